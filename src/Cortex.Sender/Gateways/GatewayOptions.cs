namespace Cortex.Sender.Gateways;

/// <summary>Which gateway to send through and its settings (section Cortex:Gateway).</summary>
public sealed class GatewayOptions
{
    public const string Section = "Cortex:Gateway";

    /// <summary>Fake, Evolution or Cloud.</summary>
    public GatewayType Type { get; set; } = GatewayType.Fake;

    /// <summary>Instance name, unique per provider number; keys the global rate limit shared by all pods.</summary>
    public string Name { get; set; } = "main";

    /// <summary>Timeout of one HTTP attempt.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    public EvolutionOptions Evolution { get; set; } = new();

    public CloudApiOptions Cloud { get; set; } = new();

    public FakeGatewayOptions Fake { get; set; } = new();
}

public enum GatewayType
{
    Fake,
    Evolution,
    Cloud,
}

/// <summary>Evolution API v2: POST {BaseUrl}/message/sendText/{Instance} with the apikey header.</summary>
public sealed class EvolutionOptions
{
    public Uri? BaseUrl { get; set; }

    public string Instance { get; set; } = string.Empty;

    /// <summary>Secret: never logged.</summary>
    public string ApiKey { get; set; } = string.Empty;
}

/// <summary>WhatsApp Cloud API: POST {BaseUrl}/{ApiVersion}/{PhoneNumberId}/messages with a bearer token.</summary>
public sealed class CloudApiOptions
{
    public Uri BaseUrl { get; set; } = new("https://graph.facebook.com");

    public string ApiVersion { get; set; } = "v21.0";

    public string PhoneNumberId { get; set; } = string.Empty;

    /// <summary>Secret: never logged.</summary>
    public string AccessToken { get; set; } = string.Empty;
}

/// <summary>The built-in fake gateway: latency and a failure mix, for the demo, tests and load tests.</summary>
public sealed class FakeGatewayOptions
{
    /// <summary>Simulated time per send.</summary>
    public TimeSpan Latency { get; set; } = TimeSpan.Zero;

    /// <summary>Share of sends (0..1) answered with a transient fault.</summary>
    public double RetryableFailureRate { get; set; }

    /// <summary>Share of recipients (0..1) that are "not on WhatsApp": a permanent failure, stable per number.</summary>
    public double PermanentFailureRate { get; set; }

    /// <summary>Share of sends (0..1) answered with throttling.</summary>
    public double ThrottleRate { get; set; }

    /// <summary>Remember every accepted id to count duplicates (tests, demo); off for long runs, where it only grows.</summary>
    public bool TrackAcceptedIds { get; set; } = true;

    /// <summary>Seed of the fault dice, so a run can be repeated.</summary>
    public int Seed { get; set; } = 42;
}
