namespace Cortex.Shared.Redis;

/// <summary>Redis connection settings (section Cortex:Redis).</summary>
public sealed class RedisOptions
{
    public const string Section = "Cortex:Redis";

    /// <summary>StackExchange.Redis configuration string, e.g. "redis:6379,password=...,ssl=true". Never logged: it may hold a password.</summary>
    public string Configuration { get; set; } = "127.0.0.1:6379";

    /// <summary>
    /// The password Cortex authenticates with; when set it replaces any password= in <see cref="Configuration"/>, so the
    /// address can live in a ConfigMap and only this comes from a Secret. A secret: never logged.
    /// </summary>
    public string Password { get; set; } = string.Empty;

    /// <summary>
    /// A PEM file with the certificate(s) of the private CA that signs the Redis server's TLS certificate; the server's
    /// certificate must chain to one of them and name the host. Empty: the machine's trust store decides. Needs ssl=true.
    /// </summary>
    public string TlsCaCertificateFile { get; set; } = string.Empty;

    /// <summary>
    /// How long the process's connection may leave a PING unanswered while Redis answers a new connection before the
    /// process takes the connection for dead and stops, for a restart to connect again (see RedisConnectionWatchdog).
    /// </summary>
    public TimeSpan DeadConnectionTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
