using Cortex.Sender.Pipeline;
using Cortex.Testing;

namespace Cortex.Sender.Tests.Pipeline;

/// <summary>A configuration error is our key's until the gateway has answered a send made after it; then it is the message's.</summary>
public sealed class ConfigurationRefusalsTests
{
    private readonly FakeTimeProvider _clock = new();

    [Fact]
    public void Refused_NothingAnsweredSince_IsTheConfigurationEveryTime()
    {
        // A revoked key: every message refused, each pause's probe too, nothing answered. No message is blamed.
        var refusals = new ConfigurationRefusals(_clock);
        var answeredBefore = _clock.GetTimestamp();
        _clock.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(RefusalVerdict.Configuration, refusals.Refused("a"));

        // An answer to a send that started before the refusal (in flight as the key was revoked) proves nothing.
        refusals.Answered(answeredBefore);
        _clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(RefusalVerdict.Configuration, refusals.Refused("a"));
        Assert.Equal(RefusalVerdict.Configuration, refusals.Refused("b"));
    }

    [Fact]
    public void Refused_AgainAfterASendMadeSinceWasAnswered_IsTheMessageUntilAnHourHasPassed()
    {
        var refusals = new ConfigurationRefusals(_clock);
        Assert.Equal(RefusalVerdict.Configuration, refusals.Refused("waf"));
        _clock.Advance(TimeSpan.FromSeconds(1));
        refusals.Answered(_clock.GetTimestamp());

        Assert.Equal(RefusalVerdict.Message, refusals.Refused("waf"));
        _clock.Advance(ConfigurationRefusals.GiveUpAfter - TimeSpan.FromSeconds(2));
        Assert.Equal(RefusalVerdict.Message, refusals.Refused("waf"));
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(RefusalVerdict.MessageForTooLong, refusals.Refused("waf"));

        // Another message's first refusal still pauses: it may be the key, revoked since.
        Assert.Equal(RefusalVerdict.Configuration, refusals.Refused("other"));
    }
}
