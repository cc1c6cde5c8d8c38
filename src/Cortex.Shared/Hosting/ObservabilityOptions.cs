using System.Net;
using System.Net.Sockets;
using Cortex.Shared.Configuration;
using Microsoft.Extensions.Options;

namespace Cortex.Shared.Hosting;

/// <summary>The operations endpoint: GET /metrics, /health/*, POST /admin/* (section Cortex:Observability).</summary>
public sealed class ObservabilityOptions
{
    public const string Section = "Cortex:Observability";

    /// <summary>The value of <see cref="BindAddress"/> that listens on every interface.</summary>
    public const string AnyAddress = "*";

    /// <summary>TCP port of the operations endpoint; 0 picks a free one (tests).</summary>
    public int Port { get; set; } = 8080;

    /// <summary>The IP address the operations endpoint listens on: loopback unless told otherwise; "*" or 0.0.0.0 for every interface.</summary>
    public string BindAddress { get; set; } = "127.0.0.1";

    /// <summary>Bearer token of the POST /admin endpoints; empty disables them. A secret: never logged.</summary>
    public string AdminToken { get; set; } = string.Empty;

    /// <summary>How long a scrape waits for Redis and PostgreSQL figures before answering without them.</summary>
    public TimeSpan ScrapeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a readiness probe waits for Redis or PostgreSQL to answer.</summary>
    public TimeSpan HealthCheckTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>The address to listen on, or null for every interface (dual-stack where the machine has IPv6).</summary>
    internal static bool TryParseBindAddress(string? value, out IPAddress? address)
    {
        address = null;
        if (value is AnyAddress or "0.0.0.0" or "::")
        {
            return true;
        }

        // IPv4 only in its dotted-quad form: TryParse also accepts "10.0.0" (10.0.0.0) and octal "010.0.0.1" (8.0.0.1).
        return !string.IsNullOrWhiteSpace(value)
            && IPAddress.TryParse(value, out address)
            && (address.AddressFamily != AddressFamily.InterNetwork || address.ToString() == value);
    }

    /// <summary>
    /// Whether another process listens on <see cref="Port"/> at <see cref="BindAddress"/>: asked before the host starts,
    /// so that the start stops with one line naming the key, before a sender's engine has started and Kestrel's bind
    /// fails with its stack trace. A port left in TIME_WAIT by the last process is free, to this bind as to Kestrel's.
    /// </summary>
    internal bool PortInUse()
    {
        if (Port == 0 || !TryParseBindAddress(BindAddress, out var address))
        {
            return false;
        }

        var at = address ?? IPAddress.Any;
        using var socket = new Socket(at.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(at, Port));
            return false;
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            return true;
        }
    }

    /// <summary>
    /// Whether this machine can listen on <paramref name="address"/>: a well-formed address of another machine
    /// (10.255.255.1) would otherwise reach Kestrel and fail the start with a socket exception instead of naming the key.
    /// </summary>
    internal static bool IsLocal(IPAddress address)
    {
        // A bind to port 0 is what Kestrel will do, minus the port: it asks the kernel, which knows every address the
        // machine has (secondary addresses, IPv6 scopes) better than a list of interfaces read beforehand.
        using var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(address, 0));
            return true;
        }
        catch (SocketException)
        {
            // EADDRNOTAVAIL for an address of another machine; EAFNOSUPPORT for IPv6 where the kernel has none.
            return false;
        }
    }
}

internal sealed class ObservabilityOptionsValidator : IValidateOptions<ObservabilityOptions>
{
    // 128 bits as hex or base64 is 22 to 32 characters: a shorter token can be guessed online.
    internal const int MinimumAdminTokenLength = 16;

    public ValidateOptionsResult Validate(string? name, ObservabilityOptions options)
    {
        var parsed = ObservabilityOptions.TryParseBindAddress(options.BindAddress, out var address);
        return new OptionsCheck(ObservabilityOptions.Section)
            .Range(nameof(options.Port), options.Port, 0, 65535)
            .Require(
                parsed,
                nameof(options.BindAddress),
                $"must be an IP address (127.0.0.1, ::1, 10.0.0.5) or * for every interface (was '{options.BindAddress}')")
            .Require(
                !parsed || address is null || ObservabilityOptions.IsLocal(address),
                nameof(options.BindAddress),
                $"is not an address of this machine (was '{options.BindAddress}'): use 127.0.0.1, * for every interface, or one of this machine's own addresses")
            // The value itself is never repeated: it is a secret, and this message is printed at start.
            .Require(
                options.AdminToken.Length == 0 || options.AdminToken.Length >= MinimumAdminTokenLength,
                nameof(options.AdminToken),
                $"must be empty (admin endpoints disabled) or at least {MinimumAdminTokenLength} characters (it has {options.AdminToken.Length})")
            .Require(
                options.AdminToken.All(c => c is >= '!' and <= '~'),
                nameof(options.AdminToken),
                "must be printable ASCII: no spaces, control characters or other characters (a trailing newline from a secret file? a byte order mark or a zero-width space pasted with it?)")
            .Range(nameof(options.ScrapeTimeout), options.ScrapeTimeout, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(1))
            .Range(nameof(options.HealthCheckTimeout), options.HealthCheckTimeout, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(1))
            .ToResult();
    }
}
