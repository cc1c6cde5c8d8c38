namespace Cortex.Shared.Privacy;

/// <summary>Masks phone numbers for logs (LGPD): keeps the country code and the last four digits, or the last two of a number under ten digits.</summary>
public static class PhoneMask
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
}
