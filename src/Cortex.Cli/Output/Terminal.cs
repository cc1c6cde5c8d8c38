using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Cortex.Shared.Contract;
using Cortex.Shared.Privacy;
using Spectre.Console;

namespace Cortex.Cli.Output;

/// <summary>Tables, JSON and the small formats every verb shares; phone numbers only ever leave here masked.</summary>
internal static class Terminal
{
    // Redirected output is read by scripts and people alike: wide enough that a table row stays on one line.
    private const int RedirectedWidth = 200;

    private static readonly JsonWriterOptions s_json = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>A Spectre console over standard output: colour and the terminal's width on a terminal, plain text otherwise.</summary>
    public static IAnsiConsole Out(CliConsole console) => Create(console.Out, console.IsOutputTerminal);

    /// <summary>A Spectre console over standard error (progress bars).</summary>
    public static IAnsiConsole Error(CliConsole console) => Create(console.Error, console.IsErrorTerminal);

    private static IAnsiConsole Create(TextWriter writer, bool terminal)
    {
        var ansi = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Yes : InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        if (!terminal)
        {
            ansi.Profile.Width = RedirectedWidth;
        }

        return ansi;
    }

    public static Table Table(params string[] columns)
    {
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var column in columns)
        {
            table.AddColumn(new TableColumn(Markup.Escape(column)));
        }

        return table;
    }

    /// <summary>Keeps these columns on one line (ids, masked phones): on a narrow terminal the others wrap instead.</summary>
    public static Table NoWrap(this Table table, params int[] columns)
    {
        foreach (var i in columns)
        {
            table.Columns[i].NoWrap();
        }

        return table;
    }

    /// <summary>
    /// Adds a row of plain text cells: no markup is interpreted in them, and control characters are shown escaped (a
    /// cell may hold what a producer pushed or a gateway answered: an escape sequence would drive the terminal).
    /// </summary>
    public static void Row(this Table table, params string?[] cells) =>
        table.AddRow(cells.Select(c => (Spectre.Console.Rendering.IRenderable)new Text(ControlCharacters.Escape(c ?? string.Empty, keepLineBreaks: true)!)).ToArray());

    /// <summary>Writes one JSON document built by <paramref name="write"/>, indented, followed by a newline.</summary>
    public static void WriteJson(CliConsole console, Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, s_json))
        {
            write(writer);
        }

        console.Out.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
    }

    public static void WriteTime(this Utf8JsonWriter writer, string name, DateTimeOffset? value)
    {
        if (value is { } v)
        {
            writer.WriteString(name, v);
        }
        else
        {
            writer.WriteNull(name);
        }
    }

    /// <summary>An instant for a table: UTC to the second, e.g. 2026-11-22 09:00:01Z.</summary>
    public static string Time(DateTimeOffset? value) =>
        value is { } v ? v.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) : "–";

    /// <summary>A duration for people: 45s, 3m 20s, 2h 5m, 4d 3h.</summary>
    public static string Age(TimeSpan age)
    {
        if (age < TimeSpan.Zero)
        {
            age = TimeSpan.Zero;
        }

        return age.TotalMinutes < 1 ? $"{(int)age.TotalSeconds}s"
            : age.TotalHours < 1 ? $"{age.Minutes}m {age.Seconds}s"
            : age.TotalDays < 1 ? $"{(int)age.TotalHours}h {age.Minutes}m"
            : $"{(int)age.TotalDays}d {age.Hours}h";
    }

    /// <summary>
    /// Text from outside Cortex's own checks (a key set by hand with redis-cli) for a line of text output: each control
    /// character written as the JSON output writes it (\n, \u001B), so that an escape sequence cannot drive the terminal
    /// and a line break cannot forge a line of its own.
    /// </summary>
    public static string? Printable(string? text) => ControlCharacters.Escape(text);

    /// <summary>Masks every phone-like number in free text, as <see cref="PhoneMask.MaskNumbersIn"/> does.</summary>
    public static string? MaskPhones(string? text) => PhoneMask.MaskNumbersIn(text);
}
