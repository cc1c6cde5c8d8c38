using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Cortex.Shared.Configuration;

/// <summary>
/// Rejects configuration keys that bind to nothing, naming the full key and the nearest real one:
/// "Cortex:Sender:Wrokers is not a setting (did you mean Cortex:Sender:Workers?)". The binder's own
/// check names only the property and the class, and ignores a misspelt section altogether.
/// </summary>
internal sealed class KnownKeysValidator<TOptions>(IConfiguration configuration, string section) : IValidateOptions<TOptions>
    where TOptions : class
{
    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        var failures = new List<string>();
        Check(configuration.GetSection(section), typeof(TOptions), failures);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    internal static void Check(IConfigurationSection node, Type type, List<string> failures)
    {
        var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite || !IsLeaf(p.PropertyType))
            .ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
        foreach (var child in node.GetChildren())
        {
            if (!properties.TryGetValue(child.Key, out var property))
            {
                var nearest = KnownSections.Nearest(child.Key, properties.Keys);
                failures.Add($"{child.Path} is not a setting{(nearest is null ? string.Empty : $" (did you mean {node.Path}:{nearest}?)")}");
            }
            else if (IsLeaf(property.PropertyType))
            {
                CheckValue(child, property.PropertyType, failures);
                foreach (var below in child.GetChildren())
                {
                    failures.Add($"{below.Path} is not a setting ({child.Path} is a setting, not a section)");
                }
            }
            else if (!typeof(IEnumerable).IsAssignableFrom(property.PropertyType))
            {
                KnownSections.AddIfValued(child, failures);
                Check(child, property.PropertyType, failures);
            }
            else if (property.PropertyType.IsGenericType && property.PropertyType.GetGenericArguments() is [var element] && !IsLeaf(element))
            {
                // The binder drops a list item it cannot convert without a word (a quiet-hours rule would just vanish).
                foreach (var item in child.GetChildren())
                {
                    Check(item, element, failures);
                }
            }
        }
    }

    /// <summary>
    /// A value the binder would refuse, or take for something else: an empty or unconvertible number or duration (in a list
    /// the binder skips it silently), an enum given as a number or as a flags combination ("Fake,Cloud" binds as Cloud).
    /// Only non-string values are quoted back, so no secret is.
    /// </summary>
    private static void CheckValue(IConfigurationSection node, Type type, List<string> failures)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        if (node.Value is not { } value || t == typeof(string) || t == typeof(Uri))
        {
            return;
        }

        if (t.IsEnum)
        {
            if (!Enum.GetNames(t).Contains(value.Trim(), StringComparer.OrdinalIgnoreCase))
            {
                failures.Add($"{node.Path} must be one of {string.Join(", ", Enum.GetNames(t))} (was '{value}')");
            }

            return;
        }

        if (t == typeof(TimeSpan) && !value.Contains(':', StringComparison.Ordinal)
            && TimeSpan.TryParse(value.Trim(), CultureInfo.InvariantCulture, out var bare))
        {
            failures.Add(BareNumberMessage(node.Path, value.Trim(), bare));
            return;
        }

        try
        {
            if (value.Trim().Length == 0 || TypeDescriptor.GetConverter(t).ConvertFromInvariantString(value) is null)
            {
                failures.Add($"{node.Path} is empty: give a {Describe(t)} or remove the key for the default");
            }
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or OverflowException or NotSupportedException)
        {
            failures.Add($"{node.Path} is not a {Describe(t)} (was '{value}')");
        }
    }

    /// <summary>
    /// A duration written without a ':' is a number of days to .NET, so IdleTime=30, meant as 30 minutes, would be a month
    /// and start without a word. docs/configuration.md says a duration is never a bare number; this holds it to that.
    /// </summary>
    private static string BareNumberMessage(string path, string value, TimeSpan read)
    {
        var days = read.TotalDays;
        var unit = days is 1 or -1 ? "day" : "days";

        // Its own number in each unit, as the writer most likely meant one of them.
        var examples = days is > 0 and < 60 && days == Math.Floor(days)
            ? string.Create(CultureInfo.InvariantCulture, $"00:00:{days:00} is {days} s, 00:{days:00}:00 {days} min, {days}.00:00:00 {days} {unit}")
            : "00:30:00 is 30 min, 1.00:00:00 one day";
        return string.Create(
            CultureInfo.InvariantCulture,
            $"{path} is '{value}', a bare number, which would be {days} {unit}: write a duration as hh:mm:ss or d.hh:mm:ss ({examples})");
    }

    private static string Describe(Type t) =>
        t == typeof(TimeSpan) ? "duration (hh:mm:ss, d.hh:mm:ss)"
        : t == typeof(bool) ? "boolean (true or false)"
        : t == typeof(double) || t == typeof(decimal) ? "number"
        : "whole number";

    private static bool IsLeaf(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        return t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(decimal) || t == typeof(TimeSpan) || t == typeof(Uri) || t == typeof(DateTimeOffset);
    }
}

/// <summary>The sections under "Cortex" that some Cortex service reads; one shared config may serve every service.</summary>
internal static class KnownSections
{
    public static readonly IReadOnlyList<string> All = ["Redis", "Queue", "Sender", "Gateway", "RateLimit", "Resilience", "Retry", "Postgres", "Scheduler", "Observability"];

    /// <summary>A marker validated at start: every child of "Cortex" must be a known section.</summary>
    internal sealed class Check;

    internal sealed class Validator(IConfiguration configuration) : IValidateOptions<Check>
    {
        public ValidateOptionsResult Validate(string? name, Check options)
        {
            var failures = new List<string>();
            foreach (var child in configuration.GetSection("Cortex").GetChildren())
            {
                if (!All.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
                {
                    var nearest = Nearest(child.Key, All);
                    failures.Add($"{child.Path} is not a Cortex section{(nearest is null ? $" (known: {string.Join(", ", All)})" : $" (did you mean Cortex:{nearest}?)")}");
                }
                else
                {
                    AddIfValued(child, failures);
                }
            }

            return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
        }
    }

    /// <summary>
    /// A value set on a section itself binds to nothing: <c>Cortex__Redis=redis:6379</c>, meant for
    /// <c>Cortex__Redis__Configuration</c>, left the default address in place. Its value is not quoted (it may be a secret).
    /// </summary>
    internal static void AddIfValued(IConfigurationSection node, List<string> failures)
    {
        if (!string.IsNullOrEmpty(node.Value))
        {
            failures.Add($"{node.Path} is a section, not a setting: its value binds to nothing; set the keys under it ({node.Path}:<key>, docs/configuration.md)");
        }
    }

    /// <summary>The closest candidate within two edits of <paramref name="key"/> (three for names over eight letters), if any.</summary>
    public static string? Nearest(string key, IEnumerable<string> candidates) =>
        candidates.Select(c => (Name: c, Distance: Distance(key.ToUpperInvariant(), c.ToUpperInvariant())))
            .Where(c => c.Distance <= (key.Length > 8 ? 3 : 2))
            .OrderBy(c => c.Distance)
            .Select(c => c.Name)
            .FirstOrDefault();

    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
