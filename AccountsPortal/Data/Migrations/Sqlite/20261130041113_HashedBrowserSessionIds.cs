using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AccountsPortal.Data.Migrations.Sqlite
{
    /// <summary>
    /// Browser sessions are stored under the SHA-256 of the key their cookie carries. Rows written before held the
    /// key itself and no cookie can find them any more: they are deleted, so every browser signs in once again.
    /// </summary>
    public partial class HashedBrowserSessionIds : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("DELETE FROM \"BrowserSessions\";");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            // Hashed ids mean nothing to the code before this migration: those browsers sign in again too.
            migrationBuilder.Sql("DELETE FROM \"BrowserSessions\";");
        }
    }
}
