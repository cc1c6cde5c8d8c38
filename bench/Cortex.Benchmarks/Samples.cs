using System.Globalization;
using System.Text;
using Cortex.Shared.Contract;

namespace Cortex.Benchmarks;

/// <summary>Envelopes shaped like the scheduler's: a billing reminder in free text and a campaign template.</summary>
internal static class Samples
{
    private static readonly DateTimeOffset s_enqueuedAt = DateTimeOffset.Parse("2026-11-22T09:00:00.123-03:00", CultureInfo.InvariantCulture);

    public static Envelope Text(string id) => new()
    {
        Id = id,
        To = "+5511987654321",
        Text = "Olá Ana, sua fatura de R$ 129,90 vence em 25/11. Pague pelo Pix com o código enviado por e-mail ou responda FALAR para atendimento.",
        Kind = "billing_reminder",
        Tenant = "acme",
        EnqueuedAt = s_enqueuedAt,
        ExpiresAt = s_enqueuedAt.AddDays(1),
        Attributes = new Dictionary<string, string> { ["chargeId"] = "4711", ["offset"] = "D-3" },
    };

    public static Envelope Template(string id) => new()
    {
        Id = id,
        To = "+5521998765432",
        Template = new MessageTemplate("black_friday_2026", "pt_BR", ["Ana", "30%", "BF30"]),
        Kind = "campaign",
        Tenant = "acme",
        Priority = Priority.Low,
        EnqueuedAt = s_enqueuedAt,
        NotBefore = s_enqueuedAt.AddHours(1),
        ExpiresAt = s_enqueuedAt.AddDays(2),
        TraceId = "4bf92f3577b34da6a3ce929d0e0e4736",
    };

    /// <summary>Not JSON: a text envelope cut off mid-value, as a broken producer might push it.</summary>
    public static byte[] Malformed()
    {
        var whole = EnvelopeCodec.Serialize(Text("billing:4711:D-3:2026-11-25"));
        return whole[..(whole.Length / 2)];
    }

    /// <summary>Well-formed JSON that breaks a field rule: the recipient is not an E.164 number.</summary>
    public static byte[] Invalid() => EnvelopeCodec.Serialize(Text("billing:4711:D-3:2026-11-25") with { To = "011 98765-4321" });

    /// <summary>Well-formed JSON with the version as a string instead of a number.</summary>
    public static byte[] WrongType() => Replace(EnvelopeCodec.Serialize(Text("billing:4711:D-3:2026-11-25")), "\"version\":1", "\"version\":\"1\"");

    /// <summary>Well-formed JSON that names the recipient twice, at the end.</summary>
    public static byte[] Duplicate() => Replace(EnvelopeCodec.Serialize(Text("billing:4711:D-3:2026-11-25")), "\"attributes\"", "\"to\":\"+5521998765432\",\"attributes\"");

    /// <summary>Not JSON: a raw line break inside the text.</summary>
    public static byte[] SyntaxError() => Replace(EnvelopeCodec.Serialize(Text("billing:4711:D-3:2026-11-25")), "Pague", "\nPague");

    private static byte[] Replace(byte[] json, string from, string to) =>
        Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(json).Replace(from, to, StringComparison.Ordinal));
}
