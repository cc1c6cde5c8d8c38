using System.Text;
using System.Text.RegularExpressions;

namespace Cortex.Shared.Privacy;

/// <summary>Masks phone numbers for logs (LGPD): keeps the country code and the last four digits, or the last two of a number under ten digits.</summary>
public static partial class PhoneMask
{
    public static string Mask(string? phone)
    {
        if (string.IsNullOrEmpty(phone))
        {
            return string.Empty;
        }

        var digits = phone.StartsWith('+') ? phone.AsSpan(1) : phone.AsSpan();
        if (digits.Length <= 6)
        {
            return new string('*', phone.Length);
        }

        if (digits.Length < 10)
        {
            // A short number (a national one echoed in a gateway's error, a small country's) would show most of its
            // digits as country code and last four: only the last two are shown.
            return string.Concat(new string('*', phone.Length - 2), phone.AsSpan(phone.Length - 2));
        }

        // Country codes are 1 to 3 digits. Only +1 and +7 are one digit: for them a second digit would be the start
        // of the area code. Two digits of a three-digit code reveal nothing local.
        var countryDigits = digits[0] is '1' or '7' ? 1 : 2;
        return string.Concat("+", digits[..countryDigits], new string('*', digits.Length - countryDigits - 4), digits[^4..]);
    }

    /// <summary>
    /// Masks every phone-like number in free text (gateway errors sometimes quote the recipient, a malformed payload is
    /// quoted by the JSON reader, a dead-lettered payload may hold it formatted or under another name): LGPD. A number is
    /// a run of 8 or more digits, whatever sits before it (tel_5511987654321), that may be written with spaces, dashes,
    /// dots and brackets (+55 (11) 98765-4321); it is masked as <see cref="Mask"/> masks its digits. ISO-8601 dates and
    /// times are left as they are.
    /// </summary>
    public static string? MaskNumbersIn(string? text) =>
        text is null ? null : PhoneLike().Replace(text, MaskRun);

    private static string MaskRun(Match match)
    {
        if (match.Groups["time"].Success)
        {
            return match.Value;
        }

        var digits = new StringBuilder(match.Length + 1);
        if (match.Value.StartsWith('+'))
        {
            digits.Append('+');
        }

        foreach (var c in match.Value)
        {
            if (char.IsAsciiDigit(c))
            {
                digits.Append(c);
            }
        }

        var count = digits.Length - (match.Value.StartsWith('+') ? 1 : 0);
        return count < 8 ? match.Value : Mask(digits.ToString());
    }

    // Either an ISO-8601 date, with its time and offset if any (2026-11-22T21:00:00.0000000-03:00, 2026-11-22 09:00:01Z),
    // kept as it is; or a run of digits: an optional '+' and '(', then digits with at most two separators (space, '-',
    // '.', brackets) between any two of them. Runs under 8 digits are kept by MaskRun.
    [GeneratedRegex(@"(?<time>[0-9]{4}-[0-9]{2}-[0-9]{2}(?![0-9])(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?)|\+?[(\[]?[0-9](?:[ .()\[\]-]{0,2}[0-9])*")]
    private static partial Regex PhoneLike();
}
