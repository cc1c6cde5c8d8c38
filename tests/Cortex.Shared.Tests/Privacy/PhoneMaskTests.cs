using Cortex.Shared.Privacy;

namespace Cortex.Shared.Tests.Privacy;

public class PhoneMaskTests
{
    [Theory]
    [InlineData("+5511987654321", "+55*******4321")]
    [InlineData("5511987654321", "+55*******4321")]
    [InlineData("+551187654321", "+55******4321")]
    [InlineData("+447911123456", "+44******3456")]
    [InlineData("+14155552671", "+1******2671")]
    [InlineData("+79161234567", "+7******4567")]
    public void Mask_E164Number_KeepsCountryCodeAndLastFour(string phone, string expected)
    {
        Assert.Equal(expected, PhoneMask.Mask(phone));
    }

    [Theory]
    [InlineData("+5511987654321")]
    [InlineData("+14155552671")]
    [InlineData("+79161234567")]
    [InlineData("+351912345678")]
    [InlineData("+123456789012345")]
    public void Mask_AnyNumber_NeverRevealsTheSubscriberDigitsBeforeTheLastFour(string phone)
    {
        var masked = PhoneMask.Mask(phone);

        // Same length, so a log reader can still tell numbers apart by shape, but at most three digits of
        // country code and the last four are visible.
        Assert.Equal(phone.Length, masked.Length);
        Assert.EndsWith(phone[^4..], masked, StringComparison.Ordinal);
        var visible = masked.Count(char.IsAsciiDigit);
        Assert.InRange(visible, 4, 4 + CountryCodeLength(phone));
        Assert.Equal(new string('*', phone.Length - 1 - visible), masked[(1 + visible - 4)..^4]);
    }

    [Theory]
    [InlineData("98765432", "******32")]
    [InlineData("+29012345", "*******45")]
    [InlineData("+12345678", "*******78")]
    public void Mask_NumberUnderTenDigits_ShowsOnlyTheLastTwo(string phone, string expected)
    {
        // A national number echoed in a gateway's error was logged as "+98**5432": six of its eight digits.
        Assert.Equal(expected, PhoneMask.Mask(phone));
    }

    [Theory]
    [InlineData(null, "")]
    [InlineData("", "")]
    [InlineData("+55119", "******")]
    [InlineData("123456", "******")]
    public void Mask_EmptyOrTooShort_RevealsNothing(string? phone, string expected)
    {
        Assert.Equal(expected, PhoneMask.Mask(phone));
    }

    // The samples' real country codes: +1 and +7 are one digit, +351 three, the rest two.
    private static int CountryCodeLength(string phone) => phone[1] is '1' or '7' ? 1 : phone.StartsWith("+351", StringComparison.Ordinal) ? 3 : 2;
}
