namespace Cortex.Shared.Privacy;

/// <summary>Masks phone numbers for logs (LGPD): keeps the country code and the last four digits.</summary>
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

        // Country codes are 1 to 3 digits. Only +1 and +7 are one digit: for them a second digit would be the start
        // of the area code. Two digits of a three-digit code reveal nothing local.
        var countryDigits = digits[0] is '1' or '7' ? 1 : 2;
        return string.Concat("+", digits[..countryDigits], new string('*', digits.Length - countryDigits - 4), digits[^4..]);
    }
}
