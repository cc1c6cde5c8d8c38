using Cortex.Shared.Queue;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cortex.Shared.Redis;

/// <summary>One command a service runs on one key (none for a command without one): what the Redis user it authenticates as must be allowed.</summary>
internal readonly record struct RedisCommandNeed(string Command, RedisKey Key);

/// <summary>
/// Asks Redis whether the user Cortex authenticates as may run what a service needs (Redis 7's
/// <c>redis.acl_check_cmd</c>, which runs nothing). A service asks before it starts: an ACL that lacks a command or a
/// key would otherwise show only as refusals once it runs, and a queue script refused halfway keeps the writes it made
/// before the refused call.
/// </summary>
internal static class RedisAcl
{
    // ARGV: command1, key1, command2, key2, ... (key '' for a command without one)   Returns "COMMAND key" of each refused.
    private static readonly RedisScript s_check = new("""
        local refused = {}
        for i = 1, #ARGV, 2 do
          if ARGV[i + 1] == '' then
            if not redis.acl_check_cmd(ARGV[i]) then refused[#refused + 1] = ARGV[i] end
          elseif not redis.acl_check_cmd(ARGV[i], ARGV[i + 1]) then
            refused[#refused + 1] = ARGV[i] .. ' ' .. ARGV[i + 1]
          end
        end
        return refused
        """);

    /// <summary>
    /// Each of <paramref name="needs"/> the user may not run, as "COMMAND key" (or Redis's own refusal of the check,
    /// which runs as a script like every queue call); empty when all are allowed; null when this Redis cannot tell
    /// (before 7.0).
    /// </summary>
    public static async Task<IReadOnlyList<string>?> RefusedAsync(IConnectionMultiplexer connection, IEnumerable<RedisCommandNeed> needs)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(needs);
        var args = needs.Distinct().SelectMany(n => new RedisValue[] { n.Command, (string?)n.Key ?? string.Empty }).ToArray();
        try
        {
            var refused = (RedisResult[])(await s_check.EvaluateAsync(connection, connection.GetDatabase(), [], args))!;
            return refused.Select(r => (string)r!).ToList();
        }
        catch (RedisServerException ex) when (IsRefusal(ex))
        {
            return [ex.Message];
        }
        catch (RedisServerException ex) when (ex.Message.Contains("acl_check_cmd", StringComparison.Ordinal) && ex.Message.Contains("nil value", StringComparison.Ordinal))
        {
            return null;
        }
    }

    /// <summary>The start-up error for <paramref name="refused"/> (exit 78 through CortexHost), naming the queue setting and the first refusals.</summary>
    public static OptionsValidationException StartRefused(string service, QueueKeys keys, IReadOnlyList<string> refused)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(refused);
        return new OptionsValidationException(RedisOptions.Section, typeof(RedisOptions), [
            $"the Redis user Cortex authenticates as may not run what the {service} needs on queue '{keys.Name}' ({QueueOptions.Section}:{nameof(QueueOptions.Name)}, keys {keys.Prefix}*): "
            + string.Join(", ", refused.Take(10)) + (refused.Count > 10 ? $" and {refused.Count - 10} more" : string.Empty)
            + ". Grant them in its ACL (k8s/redis/users.acl holds Cortex's user), or name a queue its key patterns allow"]);
    }

    /// <summary>
    /// Whether Redis refused a command because of its ACL: "NOPERM ..." from a command, "ERR The user executing the
    /// script can't ..." from inside a script (Redis 7.0's wording). Waiting does not fix it; the ACL or the queue name does.
    /// </summary>
    public static bool IsRefusal(Exception ex) =>
        ex is RedisServerException
        && (ex.Message.StartsWith("NOPERM", StringComparison.Ordinal) || ex.Message.Contains("The user executing the script can't", StringComparison.Ordinal));
}
