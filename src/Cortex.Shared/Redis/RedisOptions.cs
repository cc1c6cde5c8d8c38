namespace Cortex.Shared.Redis;

/// <summary>Redis connection settings (section Cortex:Redis).</summary>
public sealed class RedisOptions
{
    public const string Section = "Cortex:Redis";

    /// <summary>StackExchange.Redis configuration string, e.g. "redis:6379,password=...,ssl=true". Never logged: it may hold a password.</summary>
    public string Configuration { get; set; } = "127.0.0.1:6379";
}
