using Microsoft.Extensions.Options;

namespace Cortex.Shared.Configuration;

/// <summary>Collects option failures that name the full configuration key, e.g. "Cortex:Sender:Workers must be 1 to 1024 (was 0)".</summary>
public sealed class OptionsCheck(string section)
{
    private readonly List<string> _failures = [];

    public OptionsCheck Range(string key, int value, int min, int max)
    {
        if (value < min || value > max)
        {
            _failures.Add($"{section}:{key} must be {min} to {max} (was {value})");
        }

        return this;
    }

    public OptionsCheck Range(string key, double value, double min, double max)
    {
        if (double.IsNaN(value) || value < min || value > max)
        {
            _failures.Add($"{section}:{key} must be {min} to {max} (was {value})");
        }

        return this;
    }

    public OptionsCheck Range(string key, TimeSpan value, TimeSpan min, TimeSpan max)
    {
        if (value < min || value > max)
        {
            _failures.Add($"{section}:{key} must be {min} to {max} (was {value})");
        }

        return this;
    }

    public OptionsCheck Require(bool condition, string key, string message)
    {
        if (!condition)
        {
            _failures.Add($"{section}:{key} {message}");
        }

        return this;
    }

    public ValidateOptionsResult ToResult() => _failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(_failures);
}
