using System.Globalization;
using System.Text;
using Cortex.Shared.Contract;

namespace Cortex.Cli.Tests.Files;

/// <summary>The three kinds of file the CLI reads: campaign recipients (CSV), envelopes as CSV, envelopes as JSON lines.</summary>
public enum InputKind
{
    Recipients,
    EnvelopeCsv,
    EnvelopeJsonl,
}

/// <summary>
/// One generated input file and what the CLI must make of it. <see cref="BadLine"/> null and <see cref="FileLevel"/> false:
/// valid, every key in <see cref="Before"/> accepted. <see cref="FileLevel"/>: refused as a whole, nothing accepted.
/// Otherwise line <see cref="BadLine"/> is refused with <see cref="Expected"/> in the message; <see cref="Before"/> and
/// <see cref="After"/> are the keys (phones or ids) of the valid rows before and after it.
/// </summary>
public sealed record InputCase(
    int Seed, InputKind Kind, string Category, byte[] Bytes, int? BadLine, string? Expected, bool FileLevel, IReadOnlyList<string> Before, IReadOnlyList<string> After)
{
    public string FileName => $"fuzz-{Seed}-{Category}.{(Kind == InputKind.EnvelopeJsonl ? "jsonl" : "csv")}";

    public bool Valid => BadLine is null && !FileLevel;

    public override string ToString() => $"{Kind} #{Seed} {Category}";
}

/// <summary>
/// Seeded generator of malformed input files for issue #7: each case is a valid file of a few rows with one defect of one
/// category put in at a chosen line (or in the whole file), so the expected outcome is known exactly. Valid variants
/// (BOM, CRLF, quoting, accents, duplicates where they are allowed) are mixed in.
/// </summary>
public static class BadInputFiles
{
    public static readonly string[] Categories =
    [
        "valid", "valid-bom-crlf", "valid-quoted", "truncated", "invalid-utf8", "utf16-bom", "utf16-no-bom", "semicolons", "tabs",
        "missing-column", "extra-column", "huge-line", "long-cell", "control-char", "bad-phone", "long-phone", "duplicate-row",
        "empty", "blank-only", "binary", "continuation-bytes", "wrong-type",
    ];

    private static readonly string[] s_names = ["Ana", "João", "Zoë", "Bruno, o filho", "Mãe \"Lu\"", "李雷", "Ana 👋", "O'Neil", "Fulano\tde Tal", "Édouard"];

    private static readonly string[][] s_badPhones =
    [
        ["123"], ["+0123456789"], ["+55 11 98765 4321"], ["fone"], ["+551198765432a"], ["++5511987654321"], ["5511-98765-4321"], ["+"], ["0"], ["٥٥١١٩٨٧٦٥٤٣٢١"],
    ];

    public static IEnumerable<InputCase> Generate(InputKind kind, int count, int firstSeed)
    {
        for (var i = 0; i < count; i++)
        {
            var seed = firstSeed + i;
            yield return Make(kind, Categories[i % Categories.Length], seed);
        }
    }

    public static InputCase Make(InputKind kind, string category, int seed)
    {
        var random = new Random(seed);
        var rows = random.Next(2, 12);
        var bad = random.Next(1, rows + 1);
        var builder = new FileBuilder(kind, seed, random);
        return category switch
        {
            "valid" => builder.Valid(category, rows, crlf: false, bom: false, quoted: false),
            "valid-bom-crlf" => builder.Valid(category, rows, crlf: true, bom: true, quoted: false),
            "valid-quoted" => builder.Valid(category, rows, crlf: random.Next(2) == 0, bom: false, quoted: true),
            "truncated" => builder.Truncated(rows, bad),
            "invalid-utf8" => builder.WithBadRow(category, rows, bad, b => b.InvalidUtf8Row()),
            "utf16-bom" => builder.Whole(category, rows, bytes => [.. (random.Next(2) == 0 ? new byte[] { 0xFF, 0xFE } : [0xFE, 0xFF]), .. Encoding.Unicode.GetBytes(Encoding.UTF8.GetString(bytes))], "UTF-16 or UTF-32"),
            "utf16-no-bom" => builder.Whole(category, rows, bytes => Encoding.Unicode.GetBytes(Encoding.UTF8.GetString(bytes)), "NUL byte"),
            "semicolons" => builder.Separated(rows, ';'),
            "tabs" => builder.Separated(rows, '\t'),
            "missing-column" => builder.WithBadRow(category, rows, bad, b => b.MissingColumnRow()),
            "extra-column" => builder.WithBadRow(category, rows, bad, b => b.ExtraColumnRow()),
            "huge-line" => builder.WithBadRow(category, rows, bad, b => b.HugeRow()),
            "long-cell" => builder.WithBadRow(category, rows, bad, b => b.LongCellRow()),
            "control-char" => builder.WithBadRow(category, rows, bad, b => b.ControlCharRow()),
            "bad-phone" => builder.WithBadRow(category, rows, bad, b => b.PhoneRow(s_badPhones[random.Next(s_badPhones.Length)][0])),
            "long-phone" => builder.WithBadRow(category, rows, bad, b => b.PhoneRow("+55" + new string('9', random.Next(14, 5000)))),
            "duplicate-row" => builder.Duplicate(rows, bad),
            "empty" => builder.Empty(category, []),
            "blank-only" => builder.Empty(category, Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat(random.Next(2) == 0 ? "\n" : "  \r\n", random.Next(1, 5))))),
            "binary" => builder.Binary(),
            "continuation-bytes" => builder.ContinuationBytes(),
            "wrong-type" => builder.WithBadRow(category, rows, bad, b => b.WrongTypeRow()),
            _ => throw new ArgumentOutOfRangeException(nameof(category), category, null),
        };
    }

    /// <summary>A bad row: its bytes (no line break) and the phrase its error must hold (null: whatever the codec says).</summary>
    private sealed record BadRow(byte[] Bytes, string? Expected, string? Key = null);

    private sealed class FileBuilder(InputKind kind, int seed, Random random)
    {
        private readonly bool _header = kind != InputKind.EnvelopeJsonl && (kind == InputKind.EnvelopeCsv || random.Next(2) == 0);
        private int _next;

        private int HeaderLines => _header ? 1 : 0;

        public InputCase Valid(string category, int rows, bool crlf, bool bom, bool quoted)
        {
            var keys = new List<string>();
            var lines = new List<byte[]>();
            for (var i = 0; i < rows; i++)
            {
                var (bytes, key) = Row(quoted);
                lines.Add(bytes);
                keys.Add(key);
            }

            var file = Join(lines, crlf ? "\r\n" : "\n", finalBreak: random.Next(3) != 0);
            return new InputCase(seed, kind, category, bom ? [0xEF, 0xBB, 0xBF, .. file] : file, null, null, false, keys, []);
        }

        public InputCase WithBadRow(string category, int rows, int bad, Func<FileBuilder, BadRow> make)
        {
            var before = new List<string>();
            var after = new List<string>();
            var lines = new List<byte[]>();
            string? expected = null;
            for (var i = 1; i <= rows; i++)
            {
                if (i == bad)
                {
                    var row = make(this);
                    lines.Add(row.Bytes);
                    expected = row.Expected;
                    continue;
                }

                var (bytes, key) = Row(quoted: random.Next(4) == 0);
                lines.Add(bytes);
                (i < bad ? before : after).Add(key);
            }

            return new InputCase(seed, kind, category, Join(lines, "\n", finalBreak: true), bad + HeaderLines, expected, false, before, after);
        }

        public InputCase Whole(string category, int rows, Func<byte[], byte[]> transform, string expected)
        {
            var valid = Valid(category, rows, crlf: false, bom: false, quoted: false);
            return valid with { Bytes = transform(valid.Bytes), Expected = expected, FileLevel = true, Before = [] };
        }

        public InputCase Empty(string category, byte[] bytes) =>
            new(seed, kind, category, bytes, null, "no ", true, [], []);

        public InputCase Binary()
        {
            var bytes = new byte[random.Next(16, 4096)];
            random.NextBytes(bytes);

            // No byte order mark at the start (0xEF, 0xFE, 0xFF): that is another category.
            bytes[0] = (byte)random.Next(0x01, 0xEF);
            bytes[1 + random.Next(Math.Min(bytes.Length - 1, 1024))] = 0;
            return new InputCase(seed, kind, "binary", bytes, null, "NUL byte", true, [], []);
        }

        public InputCase ContinuationBytes()
        {
            // Bytes 0x80-0xBF only: never valid UTF-8, no NUL, no line break.
            var bytes = new byte[random.Next(1, 2048)];
            for (var i = 0; i < bytes.Length; i++)
            {
                bytes[i] = (byte)random.Next(0x80, 0xC0);
            }

            return kind == InputKind.EnvelopeCsv
                ? new InputCase(seed, kind, "continuation-bytes", bytes, null, "byte 1: not valid UTF-8", true, [], [])
                : new InputCase(seed, kind, "continuation-bytes", bytes, 1, "not valid UTF-8", false, [], []);
        }

        public InputCase Separated(int rows, char separator)
        {
            var category = separator == ';' ? "semicolons" : "tabs";
            var hint = separator == ';' ? "separated by ';'" : "separated by tabs";
            if (kind == InputKind.EnvelopeJsonl)
            {
                // JSON lines' own mistake of the kind: a JSON array of envelopes on one line.
                var items = Enumerable.Range(0, rows).Select(_ => Encoding.UTF8.GetString(Row(false).Bytes));
                var array = Encoding.UTF8.GetBytes("[" + string.Join(separator == ';' ? "," : ", ", items) + "]\n");
                return new InputCase(seed, kind, category, array, 1, null, false, [], []);
            }

            var lines = new List<byte[]>();

            for (var i = 0; i < rows; i++)
            {
                var phone = Phone();
                lines.Add(Encoding.UTF8.GetBytes(kind == InputKind.Recipients ? $"{phone}{separator}Ana" : $"{Id()}{separator}{phone}{separator}Oi"));
            }

            var file = Join(lines, "\n", finalBreak: true, kind == InputKind.Recipients ? $"phone{separator}name" : $"id{separator}to{separator}text");

            // Envelope CSV: the header says it. Recipients: the header row (if any) is not recognised, so line 1.
            return kind == InputKind.EnvelopeCsv
                ? new InputCase(seed, kind, category, file, null, hint, true, [], [])
                : new InputCase(seed, kind, category, file, 1, hint, false, [], []);
        }

        public InputCase Truncated(int rows, int bad)
        {
            // The file ends inside row `bad`: inside a quoted cell for CSV, inside the object for JSON lines.
            var valid = WithBadRow("truncated", rows, bad, b => b.CutRow());
            var lineStart = 0;
            var bytes = valid.Bytes;
            for (var line = 1; line < valid.BadLine; line++)
            {
                lineStart = Array.IndexOf(bytes, (byte)'\n', lineStart) + 1;
            }

            var lineEnd = Array.IndexOf(bytes, (byte)'\n', lineStart);
            return valid with { Bytes = bytes[..lineEnd], After = [] };
        }

        public InputCase Duplicate(int rows, int bad)
        {
            var first = Row(false);
            var lines = new List<byte[]> { first.Bytes };
            var keys = new List<string> { first.Key };
            for (var i = 1; i < rows; i++)
            {
                var row = Row(false);
                lines.Add(row.Bytes);
                keys.Add(row.Key);
            }

            var at = Math.Max(1, Math.Min(bad, rows - 1));
            lines.Insert(at, first.Bytes);
            var file = Join(lines, "\n", finalBreak: true);
            if (kind == InputKind.Recipients)
            {
                // A number listed twice would get the campaign twice: refused.
                return new InputCase(seed, kind, "duplicate-row", file, at + 1 + HeaderLines, $"is already on line {1 + HeaderLines}", false, keys[..at], keys[at..]);
            }

            // An envelope id twice is allowed by the contract: both are enqueued, the sender sends the id once.
            keys.Insert(at, first.Key);
            return new InputCase(seed, kind, "duplicate-row", file, null, null, false, keys, []);
        }

        public BadRow CutRow() => kind switch
        {
            InputKind.Recipients => new(Encoding.UTF8.GetBytes($"{Phone()},\"{Name().Replace("\"", string.Empty, StringComparison.Ordinal)}"), "a quoted field is never closed"),
            InputKind.EnvelopeCsv => new(Encoding.UTF8.GetBytes($"{Id()},{Phone()},\"Olá, {Name().Replace("\"", string.Empty, StringComparison.Ordinal)}"), "a quoted field is never closed"),
            _ => new(Encoding.UTF8.GetBytes($"{{\"version\":1,\"id\":\"{Id()}\",\"to\":\"{Phone()}\",\"text\":\"Ol"), null),
        };

        public BadRow InvalidUtf8Row()
        {
            byte[][] sequences = [[0xE3], [0xE9, 0x20], [0xC7], [0x80], [0xC0, 0xAF], [0xF5, 0x80, 0x80, 0x80], [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xFF]];
            var bad = sequences[random.Next(sequences.Length)];
            var text = Encoding.UTF8.GetBytes("Jo");
            byte[] cell = [.. text, .. bad, (byte)'o'];
            return kind switch
            {
                InputKind.Recipients => new([.. Encoding.UTF8.GetBytes(Phone() + ","), .. cell], "not valid UTF-8"),
                InputKind.EnvelopeCsv => new([.. Encoding.UTF8.GetBytes($"{Id()},{Phone()},"), .. cell], "not valid UTF-8"),
                _ => new([.. Encoding.UTF8.GetBytes($"{{\"version\":1,\"id\":\"{Id()}\",\"to\":\"{Phone()}\",\"text\":\""), .. cell, .. "\"}"u8], "not valid UTF-8"),
            };
        }

        public BadRow MissingColumnRow() => kind switch
        {
            InputKind.Recipients => new(Encoding.UTF8.GetBytes(",Ana"), "phone: '' is not E.164"),
            InputKind.EnvelopeCsv => new(Encoding.UTF8.GetBytes(Id()), "to: is required"),
            _ => new(Encoding.UTF8.GetBytes($"{{\"version\":1,\"id\":\"{Id()}\",\"text\":\"Oi\"}}"), null),
        };

        public BadRow ExtraColumnRow() => kind switch
        {
            InputKind.Recipients => new(Encoding.UTF8.GetBytes($"{Phone()},Ana,{{}},{string.Join(',', Enumerable.Repeat("x", random.Next(1, 5)))}"), "cells (quote a value holding a comma)"),
            InputKind.EnvelopeCsv => new(Encoding.UTF8.GetBytes($"{Id()},{Phone()},Olá,{string.Join(',', Enumerable.Repeat("x", random.Next(1, 5)))}"), "cells but the header names 3 columns"),
            _ => new(Encoding.UTF8.GetBytes($"{{\"version\":1,\"id\":\"{Id()}\",\"to\":\"{Phone()}\",\"text\":\"Oi\",\"txt\":\"x\"}}"), "unknown field"),
        };

        public BadRow HugeRow()
        {
            // Past the reader's line limit: never held whole in memory, and the rows after it still read.
            var size = 256 * 1024 + random.Next(1, 64 * 1024);
            var filler = new string('a', size);
            return kind switch
            {
                InputKind.Recipients => new(Encoding.UTF8.GetBytes($"{Phone()},{filler}"), "longer than 256 KiB"),
                InputKind.EnvelopeCsv => new(Encoding.UTF8.GetBytes($"{Id()},{Phone()},{filler}"), "longer than 256 KiB"),
                _ => new(Encoding.UTF8.GetBytes($"{{\"version\":1,\"id\":\"{Id()}\",\"to\":\"{Phone()}\",\"text\":\"{filler}\"}}"), "longer than 256 KiB"),
            };
        }

        public BadRow LongCellRow()
        {
            // Under the line limit, over the field's own.
            var filler = new string('b', random.Next(5000, 60_000));
            return kind switch
            {
                InputKind.Recipients => new(Encoding.UTF8.GetBytes($"{Phone()},{filler}"), "name: "),
                InputKind.EnvelopeCsv => new(Encoding.UTF8.GetBytes($"{Id()},{Phone()},{filler}"), "text: "),
                _ => new(Encoding.UTF8.GetBytes($"{{\"version\":1,\"id\":\"{Id()}\",\"to\":\"{Phone()}\",\"text\":\"{filler}\"}}"), "text: "),
            };
        }

        public BadRow ControlCharRow()
        {
            char[] controls = ['\0', '\u0001', '\u0007', '\b', '\u000B', '\f', '\r', '\u001B', '\u001F', '\u007F', '\u0085', '\u009B'];
            var c = controls[random.Next(controls.Length)];
            if (c == '\0')
            {
                c = '\u0002';
            }

            var cell = "Ol" + c + "á";
            return kind switch
            {
                InputKind.Recipients => new(Encoding.UTF8.GetBytes($"{Phone()},{cell}"), $"control character U+{(int)c:X4}"),
                InputKind.EnvelopeCsv => new(Encoding.UTF8.GetBytes($"{Id()},{Phone()},{cell}"), $"control character U+{(int)c:X4}"),

                // Raw in a JSON string: the JSON itself is invalid (U+0085 and U+009B are allowed there: not C0).
                _ => c is '\u007F' or '\u0085' or '\u009B'
                    ? new(Encoding.UTF8.GetBytes($"{{\"version\":1,\"id\":\"{Id()}\",\"to\":\"{Phone()}\",\"text\":1{cell}}}"), null)
                    : new(Encoding.UTF8.GetBytes($"{{\"version\":1,\"id\":\"{Id()}\",\"to\":\"{Phone()}\",\"text\":\"{cell}\"}}"), null),
            };
        }

        public BadRow PhoneRow(string phone) => kind switch
        {
            InputKind.Recipients => new(Encoding.UTF8.GetBytes($"{Csv(phone)},Ana"), "phone: "),
            InputKind.EnvelopeCsv => new(Encoding.UTF8.GetBytes($"{Id()},{Csv(phone)},Oi"), "to: "),
            _ => new(Encoding.UTF8.GetBytes($"{{\"version\":1,\"id\":\"{Id()}\",\"to\":\"{phone}\",\"text\":\"Oi\"}}"), "to: "),
        };

        public BadRow WrongTypeRow()
        {
            string[] jsons =
            [
                $"{{\"version\":\"1\",\"id\":\"{Id()}\",\"to\":\"{Phone()}\",\"text\":\"Oi\"}}",
                $"{{\"version\":1,\"id\":{random.Next()},\"to\":\"{Phone()}\",\"text\":\"Oi\"}}",
                $"{{\"version\":1,\"id\":\"{Id()}\",\"to\":{Phone()[1..]},\"text\":\"Oi\"}}",
                $"{{\"version\":1,\"id\":\"{Id()}\",\"to\":\"{Phone()}\",\"text\":[\"Oi\"]}}",
                $"{{\"version\":99,\"id\":\"{Id()}\",\"to\":\"{Phone()}\",\"text\":\"Oi\"}}",
                "[]", "null", "\"text\"", "42",
            ];
            return kind switch
            {
                InputKind.Recipients => new(Encoding.UTF8.GetBytes($"{Phone()},Ana,\"[1,2]\""), "variables: must be a JSON object"),
                InputKind.EnvelopeCsv => new(Encoding.UTF8.GetBytes($"{Id()},{Phone()},Oi,"), "cells but the header names 3 columns"),
                _ => new(Encoding.UTF8.GetBytes(jsons[random.Next(jsons.Length)]), null),
            };
        }

        private (byte[] Bytes, string Key) Row(bool quoted)
        {
            var phone = Phone();
            var name = quoted ? Name() : "Ana";
            switch (kind)
            {
                case InputKind.Recipients:
                    var variables = random.Next(3) == 0 ? ",\"{\"\"promo\"\": \"\"30% off\"\"}\"" : string.Empty;
                    return (Encoding.UTF8.GetBytes($"{(random.Next(5) == 0 ? phone[1..] : phone)},{Csv(name)}{variables}"), phone);
                case InputKind.EnvelopeCsv:
                    var id = Id();
                    return (Encoding.UTF8.GetBytes($"{id},{phone},{Csv("Olá, " + name)}"), id);
                default:
                    var jid = Id();
                    var text = System.Text.Json.JsonSerializer.Serialize("Olá, " + name);
                    return (Encoding.UTF8.GetBytes($"{{\"version\":1,\"id\":\"{jid}\",\"to\":\"{phone}\",\"text\":{text}}}"), jid);
            }
        }

        private string Phone() => "+55119" + (seed % 10_000).ToString("D4", CultureInfo.InvariantCulture) + (_next++).ToString("D4", CultureInfo.InvariantCulture);

        private string Id() => $"f{seed}-{_next++}";

        private string Name() => s_names[random.Next(s_names.Length)];

        private static string Csv(string cell) =>
            cell.AsSpan().IndexOfAny(",\"\n") >= 0 ? "\"" + cell.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : cell;

        private byte[] Join(List<byte[]> lines, string lineBreak, bool finalBreak, string? header = null)
        {
            header ??= kind switch
            {
                InputKind.Recipients => random.Next(2) == 0 ? "phone,name,variables" : "Phone,Name",
                _ => "id,to,text",
            };
            var all = _header ? lines.Prepend(Encoding.UTF8.GetBytes(header)) : lines;
            var separator = Encoding.UTF8.GetBytes(lineBreak);
            using var stream = new MemoryStream();
            var first = true;
            foreach (var line in all)
            {
                if (!first)
                {
                    stream.Write(separator);
                }

                stream.Write(line);
                first = false;
            }

            if (finalBreak)
            {
                stream.Write(separator);
            }

            return stream.ToArray();
        }
    }
}
