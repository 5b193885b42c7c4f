using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AccountsPortal.Data.Migrations
{
    /// <inheritdoc />
    public partial class ConfirmItsYou : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "ConfirmedAt",
                table: "BrowserSessions",
                type: "INTEGER",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "ConfirmedAt",
                table: "BrowserSessions");
        }
    }
}
