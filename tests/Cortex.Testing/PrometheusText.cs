using System.Globalization;
using System.Text;

namespace Cortex.Testing;

/// <summary>Reads a Prometheus text scrape into samples, so tests assert values rather than exact lines.</summary>
public static class PrometheusText
{
    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    public static IReadOnlyList<Sample> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var samples = new List<Sample>();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            var brace = line.IndexOf('{', StringComparison.Ordinal);
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            string name;
            int rest;
            if (brace >= 0 && brace < space)
            {
                name = line[..brace];
                rest = ParseLabels(line, brace + 1, labels);
            }
            else
            {
                name = line[..space];
                rest = space;
            }

            var value = line[(rest + 1)..].Trim();
            samples.Add(new Sample(name, labels, value switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                _ => double.Parse(value, CultureInfo.InvariantCulture),
            }));
        }

        return samples;
    }

    /// <summary>The samples named <paramref name="name"/> whose labels include every given pair.</summary>
    public static IEnumerable<Sample> Find(this IEnumerable<Sample> samples, string name, params (string Key, string Value)[] labels) =>
        samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value));

    /// <summary>The one matching sample's value, or null when there is none; throws when several match.</summary>
    public static double? Value(this IEnumerable<Sample> samples, string name, params (string Key, string Value)[] labels) =>
        samples.Find(name, labels).SingleOrDefault()?.Value;

    private static int ParseLabels(string line, int i, Dictionary<string, string> labels)
    {
        while (line[i] != '}')
        {
            var eq = line.IndexOf('=', i);
            var key = line[i..eq];
            var value = new StringBuilder();
            i = eq + 2; // past ="
            while (line[i] != '"')
            {
                if (line[i] == '\\')
                {
                    i++;
                    value.Append(line[i] == 'n' ? '\n' : line[i]);
                }
                else
                {
                    value.Append(line[i]);
                }

                i++;
            }

            labels[key] = value.ToString();
            i++; // past the closing quote
            if (line[i] == ',')
            {
                i++;
            }
        }

        return i + 1;
    }
}
