namespace Cortex.Shared.Contract;

/// <summary>Delivery priority; each has its own ready list, served by weighted round robin so low never starves.</summary>
public enum Priority
{
    High = 0,
    Normal = 1,
    Low = 2,
}

internal static class PriorityNames
{
    public static string ToWire(this Priority priority) => priority switch
    {
        Priority.High => "high",
        Priority.Low => "low",
        _ => "normal",
    };

    public static bool TryParse(string? value, out Priority priority)
    {
        switch (value)
        {
            case null or "normal":
                priority = Priority.Normal;
                return true;
            case "high":
                priority = Priority.High;
                return true;
            case "low":
                priority = Priority.Low;
                return true;
            default:
                priority = Priority.Normal;
                return false;
        }
    }
}
