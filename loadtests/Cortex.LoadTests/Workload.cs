using System.Globalization;
using System.Text;
using Cortex.Shared.Contract;

namespace Cortex.LoadTests;

/// <summary>Realistic traffic: billing reminders of an ISP, in pt-BR, with a share of templates and bad input from "other systems".</summary>
internal static class Workload
{
    private static readonly string[] s_names = ["Ana", "Bruno", "Carla", "Diego", "Elisa", "Fábio", "Gabriela", "Heitor", "Isabela", "João", "Larissa", "Marcos"];
    // Built by hand: the services run with invariant globalization (no ICU in the image), so no pt-BR culture data.
    private static readonly NumberFormatInfo s_real = new()
    {
        CurrencySymbol = "R$",
        CurrencyDecimalSeparator = ",",
        CurrencyGroupSeparator = ".",
        CurrencyPositivePattern = 2,
        CurrencyDecimalDigits = 2,
    };

    /// <summary>Billing reminders for D-3, D0 and overdue charges: overdue and due today are high priority, campaigns low.</summary>
    public static List<Envelope> BillingReminders(int count, DateTimeOffset now, int seed = 7)
    {
        var random = new Random(seed);
        var list = new List<Envelope>(count);
        for (var i = 0; i < count; i++)
        {
            list.Add(BillingReminder(i, now, random));
        }

        return list;
    }

    /// <summary>
    /// Reminder number <paramref name="i"/> of the workload. Its phone number ends in 10,000,000 + i, so a gateway can
    /// tell which message it got from the number alone (<see cref="IndexOfNumber"/>); <paramref name="id"/> replaces the
    /// workload's own id when given.
    /// </summary>
    public static Envelope BillingReminder(int i, DateTimeOffset now, Random random, string? id = null)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(i, MaxIndex);
        var name = s_names[random.Next(s_names.Length)];
        var amount = (random.Next(4990, 39990) / 100m).ToString("C", s_real);
        var offset = (i % 3) switch { 0 => -3, 1 => 0, _ => 2 };
        var due = now.AddDays(-offset).ToString("dd/MM/yyyy", CultureInfo.InvariantCulture);
        var phone = "+55" + (11 + (i % 89)).ToString(CultureInfo.InvariantCulture) + "9" + (10_000_000 + i).ToString(CultureInfo.InvariantCulture);
        var isCampaign = i % 20 == 19;
        return new Envelope
        {
            Id = id ?? (isCampaign ? $"campaign:black-friday:{i}" : $"billing:{100_000 + i}:D{(offset >= 0 ? "+" : string.Empty)}{offset}:{now:yyyy-MM-dd}"),
            To = phone,
            Text = i % 10 == 3 ? null : offset switch
            {
                -3 => $"Olá {name}, sua fatura de {amount} vence em {due}. Pague pelo link https://pay.example/f/{i}",
                0 => $"Olá {name}, sua fatura de {amount} vence hoje ({due}). Evite a suspensão: https://pay.example/f/{i}",
                _ => $"{name}, sua fatura de {amount} venceu em {due}. Regularize em https://pay.example/f/{i}",
            },
            Template = i % 10 == 3 ? new MessageTemplate("lembrete_fatura", "pt_BR", [name, amount, due]) : null,
            Kind = isCampaign ? "campaign" : "billing_reminder",
            Tenant = "isp-demo",
            Priority = isCampaign ? Priority.Low : offset >= 0 ? Priority.High : Priority.Normal,
            TraceId = "trace-" + i.ToString("x8", CultureInfo.InvariantCulture),
        };
    }

    /// <summary>The largest index <see cref="BillingReminder"/> can encode in a phone number.</summary>
    public const int MaxIndex = 89_999_999;

    /// <summary>The workload index a reminder's number encodes (its last eight digits minus 10,000,000), or -1.</summary>
    public static int IndexOfNumber(ReadOnlySpan<char> digits)
    {
        if (digits.Length < 8 || !int.TryParse(digits[^8..], NumberStyles.None, CultureInfo.InvariantCulture, out var tail) || tail < 10_000_000)
        {
            return -1;
        }

        return tail - 10_000_000;
    }

    /// <summary>
    /// Reminders another system (a legacy ERP) pushes through the client hours late: each expired a minute ago, so the
    /// sender must dead-letter it as expired instead of sending yesterday's news. Their numbers (+55 21) are not the demo's
    /// PostgreSQL customers.
    /// </summary>
    public static List<Envelope> ExpiredReminders(int count, DateTimeOffset now)
    {
        var list = new List<Envelope>(count);
        for (var i = 0; i < count; i++)
        {
            var name = s_names[i % s_names.Length];
            var amount = ((8990 + (i * 1000)) / 100m).ToString("C", s_real);
            var due = now.AddDays(-1).ToString("dd/MM/yyyy", CultureInfo.InvariantCulture);
            list.Add(new Envelope
            {
                Id = $"erp:boleto:{77_000 + i}:{now:yyyy-MM-dd}",
                To = "+55219" + (80_000_000 + (i * 7919)).ToString(CultureInfo.InvariantCulture),
                Text = $"{name}, seu boleto de {amount} venceu em {due}. Segunda via: https://pay.example/b/{77_000 + i}",
                Kind = "billing_reminder",
                Tenant = "erp-legado",
                ExpiresAt = now.AddMinutes(-1),
                TraceId = "erp-" + i.ToString("x6", CultureInfo.InvariantCulture),
            });
        }

        return list;
    }

    /// <summary>What careless producers push with a raw LPUSH: each must land in the dead-letter list with a reason.</summary>
    public static IEnumerable<byte[]> Malformed(int count)
    {
        string[] shapes =
        [
            """{"version":1,"id":"bad-phone-{0}","to":"+55 11 9999","text":"oi"}""",
            """{"version":1,"id":"no-body-{0}","to":"+5511999990000"}""",
            """{"version":1,"id":"typo-{0}","to":"+5511999990000","txt":"oi"}""",
            """{"version":1,"id":"truncated-{0}","to":"+55119999""",
            """{"version":7,"id":"future-{0}","to":"+5511999990000","text":"oi"}""",
        ];
        for (var i = 0; i < count; i++)
        {
            yield return Encoding.UTF8.GetBytes(shapes[i % shapes.Length].Replace("{0}", i.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal));
        }
    }
}
