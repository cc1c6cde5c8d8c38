using Microsoft.Extensions.Options;

namespace Cortex.Sender.Retry;

/// <summary>Exponential backoff with jitter: decides when a failed message is tried again, or that it is not.</summary>
public sealed class RetrySchedule
{
    private readonly RetryOptions _options;
    private readonly Func<double> _random;

    public RetrySchedule(IOptions<RetryOptions> options)
        : this(options, Random.Shared.NextDouble)
    {
    }

    /// <param name="options">The schedule.</param>
    /// <param name="random">Source of uniform numbers in [0, 1); tests pass a fixed one.</param>
    public RetrySchedule(IOptions<RetryOptions> options, Func<double> random)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _random = random;
    }

    public int MaxAttempts => _options.MaxAttempts;

    /// <summary>The delay before the next attempt after <paramref name="failedAttempts"/> failures, or null when none is left.</summary>
    public TimeSpan? NextDelay(int failedAttempts)
    {
        if (failedAttempts >= _options.MaxAttempts)
        {
            return null;
        }

        var exponent = Math.Max(0, failedAttempts - 1);
        var ticks = Math.Min(_options.BaseDelay.Ticks * Math.Pow(_options.Factor, exponent), _options.MaxDelay.Ticks);
        var jitter = 1 + (_options.Jitter * ((2 * _random()) - 1));
        return TimeSpan.FromTicks((long)(ticks * jitter));
    }
}
