using Cortex.Shared.Configuration;
using Microsoft.Extensions.Options;

namespace Cortex.Sender.RateLimiting;

internal sealed class RateLimitOptionsValidator : IValidateOptions<RateLimitOptions>
{
    public ValidateOptionsResult Validate(string? name, RateLimitOptions options) =>
        new OptionsCheck(RateLimitOptions.Section)
            .Range(nameof(options.PodPermitsPerSecond), options.PodPermitsPerSecond, 0, 1_000_000)
            .Range(nameof(options.PodBurst), options.PodBurst, 1, 1_000_000)
            .Range(nameof(options.GlobalPermitsPerSecond), options.GlobalPermitsPerSecond, 0, 1_000_000)
            .Range(nameof(options.GlobalBurst), options.GlobalBurst, 1, 1_000_000)
            .Range(nameof(options.ThrottlePause), options.ThrottlePause, TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(10))
            .ToResult();
}
