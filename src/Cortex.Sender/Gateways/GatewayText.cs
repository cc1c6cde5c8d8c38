using System.Text;
using Cortex.Shared.Privacy;

namespace Cortex.Sender.Gateways;

/// <summary>Makes provider text safe for <see cref="GatewayResult.Error"/>: short, one line, phones masked, secrets removed.</summary>
internal static class GatewayText
{
    public const int MaxLength = 160;

    private const int MinPhoneDigits = 8;

    /// <summary>
    /// Providers echo what they were sent (a jid, the number, sometimes a header), so every text taken from an answer passes
    /// through here: runs of 8+ digits are masked like phone numbers and <paramref name="secret"/> is cut out.
    /// </summary>
    public static string Clean(string? text, string? secret)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return string.Empty;
        }

        if (!string.IsNullOrEmpty(secret))
        {
            text = text.Replace(secret, "[redacted]", StringComparison.Ordinal);
        }

        var sb = new StringBuilder(Math.Min(text.Length, MaxLength + 16));
        var i = 0;
        while (i < text.Length && sb.Length < MaxLength)
        {
            var c = text[i];
            if (char.IsAsciiDigit(c))
            {
                var start = i;
                while (i < text.Length && char.IsAsciiDigit(text[i]))
                {
                    i++;
                }

                var run = text.AsSpan(start, i - start);
                sb.Append(run.Length >= MinPhoneDigits ? PhoneMask.Mask(run.ToString()) : run);
                continue;
            }

            sb.Append(char.IsControl(c) ? ' ' : c);
            i++;
        }

        if (i < text.Length || sb.Length > MaxLength)
        {
            sb.Length = Math.Min(sb.Length, MaxLength);
            sb.Append('…');
        }

        return sb.ToString().Trim();
    }
}
