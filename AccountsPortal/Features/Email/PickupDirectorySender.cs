using System.Globalization;
using System.Text;
using Microsoft.Extensions.Options;
using MimeKit;

namespace AccountsPortal.Features.Email;

/// <summary>
/// Writes each email as one RFC 5322 <c>.eml</c> file (CRLF line endings) into <see cref="EmailOptions.PickupDirectory"/>,
/// so a new install works without a mail server. A file appears whole or not at all: it is written under a
/// temporary name starting with "." in the same directory and then renamed. Names sort by the time of writing:
/// <c>20261130T140215.1234567Z-{message id}.eml</c> (UTC).
/// </summary>
public sealed class PickupDirectorySender(IOptions<EmailOptions> options, IHostEnvironment environment, TimeProvider time) : IEmailSender
{
    private static readonly FormatOptions Rfc5322 = CreateFormat();

    /// <summary>The full path of the pickup directory.</summary>
    public string Directory => options.Value.ResolvePickupDirectory(environment.ContentRootPath);

    /// <exception cref="IOException">The directory or file could not be written.</exception>
    /// <exception cref="UnauthorizedAccessException">The directory may not be written.</exception>
    public async Task SendAsync(MimeMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var directory = Directory;
        // Emails carry codes and password-reset links: the folder and files the portal creates are its owner's alone.
        if (OperatingSystem.IsWindows())
        {
            System.IO.Directory.CreateDirectory(directory);
        }
        else
        {
            System.IO.Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var finalPath = Path.Combine(directory, FileName(time.GetUtcNow(), message.MessageId));
        var temporaryPath = Path.Combine(directory, $".{Guid.NewGuid():N}.tmp");
        try
        {
            var create = new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
                BufferSize = 16 * 1024,
                Options = FileOptions.Asynchronous,
            };
            if (!OperatingSystem.IsWindows())
            {
                create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            await using (var file = new FileStream(temporaryPath, create))
            {
                await message.WriteToAsync(Rfc5322, file, cancellationToken);
                file.Flush(flushToDisk: true);
            }

            File.Move(temporaryPath, finalPath, overwrite: false);
        }
        catch
        {
            DeleteQuietly(temporaryPath);
            throw;
        }
    }

    /// <summary>The file name for a message written at <paramref name="writtenAt"/>: sortable UTC time, then the message id.</summary>
    public static string FileName(DateTimeOffset writtenAt, string? messageId)
    {
        var name = new StringBuilder(writtenAt.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'.'fffffff'Z'", CultureInfo.InvariantCulture));
        if (!string.IsNullOrEmpty(messageId))
        {
            name.Append('-');
            foreach (var c in messageId)
            {
                name.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' or '@' ? c : '_');
            }
        }

        return name.Append(".eml").ToString();
    }

    private static void DeleteQuietly(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            // The write already failed; that error is the one worth reporting.
        }
    }

    private static FormatOptions CreateFormat()
    {
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        return format;
    }
}
