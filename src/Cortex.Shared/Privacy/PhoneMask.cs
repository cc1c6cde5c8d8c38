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

        return string.Concat("+", digits[..2], new string('*', digits.Length - 6), digits[^4..]);
    }
}
