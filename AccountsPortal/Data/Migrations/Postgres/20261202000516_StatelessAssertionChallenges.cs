using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AccountsPortal.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class StatelessAssertionChallenges : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_PasskeyCeremonies_LoginSessionId_Challenge",
                table: "PasskeyCeremonies");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "IX_PasskeyCeremonies_LoginSessionId_Challenge",
                table: "PasskeyCeremonies",
                columns: new[] { "LoginSessionId", "Challenge" });
        }
    }
}
