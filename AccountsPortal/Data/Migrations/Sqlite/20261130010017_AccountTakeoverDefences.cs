using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AccountsPortal.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class AccountTakeoverDefences : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "TwoFactorLockouts");

            migrationBuilder.AddColumn<string>(
                name: "ApprovalChoices",
                table: "LoginSessions",
                type: "TEXT",
                maxLength: 16,
                nullable: false,
                defaultValue: "");

            migrationBuilder.AddColumn<byte[]>(
                name: "ApprovalHash",
                table: "LoginSessions",
                type: "BLOB",
                maxLength: 32,
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "ApprovalNumber",
                table: "LoginSessions",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<long>(
                name: "ApprovedAt",
                table: "LoginSessions",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "RequestIp",
                table: "LoginSessions",
                type: "TEXT",
                maxLength: 64,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "RequestUserAgent",
                table: "LoginSessions",
                type: "TEXT",
                maxLength: 256,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "SecurityStamp",
                table: "LoginSessions",
                type: "TEXT",
                maxLength: 64,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "SecurityStamp",
                table: "BrowserSessions",
                type: "TEXT",
                maxLength: 64,
                nullable: true);

            migrationBuilder.CreateTable(
                name: "AttemptCounters",
                columns: table => new
                {
                    Key = table.Column<string>(type: "TEXT", maxLength: 320, nullable: false),
                    Reserved = table.Column<int>(type: "INTEGER", nullable: false),
                    Failures = table.Column<int>(type: "INTEGER", nullable: false),
                    WindowStart = table.Column<long>(type: "INTEGER", nullable: false),
                    LockedUntil = table.Column<long>(type: "INTEGER", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_AttemptCounters", x => x.Key);
                });

            migrationBuilder.CreateIndex(
                name: "IX_AttemptCounters_WindowStart",
                table: "AttemptCounters",
                column: "WindowStart");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "AttemptCounters");

            migrationBuilder.DropColumn(
                name: "ApprovalChoices",
                table: "LoginSessions");

            migrationBuilder.DropColumn(
                name: "ApprovalHash",
                table: "LoginSessions");

            migrationBuilder.DropColumn(
                name: "ApprovalNumber",
                table: "LoginSessions");

            migrationBuilder.DropColumn(
                name: "ApprovedAt",
                table: "LoginSessions");

            migrationBuilder.DropColumn(
                name: "RequestIp",
                table: "LoginSessions");

            migrationBuilder.DropColumn(
                name: "RequestUserAgent",
                table: "LoginSessions");

            migrationBuilder.DropColumn(
                name: "SecurityStamp",
                table: "LoginSessions");

            migrationBuilder.DropColumn(
                name: "SecurityStamp",
                table: "BrowserSessions");

            migrationBuilder.CreateTable(
                name: "TwoFactorLockouts",
                columns: table => new
                {
                    UserId = table.Column<string>(type: "TEXT", nullable: false),
                    FailedAttempts = table.Column<int>(type: "INTEGER", nullable: false),
                    LockedUntil = table.Column<long>(type: "INTEGER", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_TwoFactorLockouts", x => x.UserId);
                    table.ForeignKey(
                        name: "FK_TwoFactorLockouts_AspNetUsers_UserId",
                        column: x => x.UserId,
                        principalTable: "AspNetUsers",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });
        }
    }
}
