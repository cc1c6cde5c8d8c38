using Cortex.Shared.Contract;

namespace Cortex.Shared.Tests.Contract;

/// <summary>Which time zone names a message's quiet hours may name: one rule, whatever the process looked up before.</summary>
public class QuietHoursWindowTests
{
    private const string TzDatabaseIndex = "/usr/share/zoneinfo/tzdata.zi";

    // A producer's envelope was refused or accepted depending on what an earlier one had named: .NET's zone cache
    // ignores case, the zone files' paths do not. Both orders in one process must give the same answer.
    [Fact]
    public void TryParse_ZoneNameInAnotherCase_IsRefusedWhateverWasLookedUpBefore()
    {
        var before = QuietHoursWindow.TryParse("21:00-08:00 america/sao_paulo", out _, out var error);

        Assert.True(QuietHoursWindow.TryParse("21:00-08:00 America/Sao_Paulo", out var window, out _));
        _ = TimeZoneInfo.GetSystemTimeZones(); // fills .NET's own cache, as any code in the process may
        var after = QuietHoursWindow.TryParse("21:00-08:00 america/sao_paulo", out _, out _);
        var upper = QuietHoursWindow.TryParse("21:00-08:00 AMERICA/SAO_PAULO", out _, out _);

        Assert.False(before, "refused before any lookup");
        Assert.False(after, "refused after the right spelling and the machine's zone list were loaded");
        Assert.False(upper);
        Assert.StartsWith("time zone 'america/sao_paulo' is not known", error, StringComparison.Ordinal);
        Assert.Equal("21:00-08:00 America/Sao_Paulo", window.ToString());
    }

    // Files under the zone database that name no IANA zone, and names .NET would convert: `localtime` is whatever the
    // sender's machine is set to, so the same message would wait for different hours on different pods.
    [Theory]
    [InlineData("localtime")]
    [InlineData("posixrules")]
    [InlineData("posix/America/Sao_Paulo")]
    [InlineData("right/America/Sao_Paulo")]
    [InlineData("E. South America Standard Time")]
    [InlineData("Pacific Standard Time")]
    [InlineData("utc")]
    public void TryParse_NameThatIsNotAnIanaZoneName_IsRefused(string zone)
    {
        Assert.False(QuietHoursWindow.TryParse("21:00-08:00 " + zone, out _, out var error));
        Assert.StartsWith($"time zone '{zone}' is not known", error, StringComparison.Ordinal);
    }

    // The rule must not refuse a real name: every zone and link of the tz database this machine has is accepted as written.
    [Fact]
    public void TryParse_EveryNameOfTheTzDatabase_IsAcceptedAsWritten()
    {
        Assert.True(File.Exists(TzDatabaseIndex), $"{TzDatabaseIndex} (Debian's tzdata) lists the tz database's names");
        var names = File.ReadLines(TzDatabaseIndex)
            .Select(line => line.Split(' '))
            .Select(f => f[0] switch { "Z" => f[1], "L" => f[2], _ => null })
            .OfType<string>()
            .Where(name => File.Exists(Path.Combine("/usr/share/zoneinfo", name)))
            .ToList();

        var refused = names.Where(name => !QuietHoursWindow.TryParse("21:00-08:00 " + name, out var w, out _) || w.ToString() != "21:00-08:00 " + name).ToList();

        Assert.True(names.Count > 400, $"{names.Count} names");
        Assert.Empty(refused);
    }
}
