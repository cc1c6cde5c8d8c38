using Cortex.Shared.Redis;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cortex.Shared.Hosting;

/// <summary>
/// StackExchange.Redis 1.2.6 puts no timeout on async commands and sees a connection die only when its socket fails. When
/// the far end vanishes without a reset (the Redis host lost, a NAT or conntrack entry dropped), every call of the process
/// then waits until the kernel gives up retransmitting, about 15 minutes with Linux's defaults, while a new connection
/// would be answered at once. This sends a PING on the shared connection every sixth of
/// <see cref="RedisOptions.DeadConnectionTimeout"/> (5 s of the default 30 s); when one has had no answer for the whole
/// timeout, it asks Redis on a connection of its own. Answered there: Redis is fine and only this process's connection is
/// dead, so the process stops (<see cref="CortexHost.RedisConnectionDeadExitCode"/>) for Kubernetes to start it again
/// with a new one; its leases come back to the other pods as a dead consumer's. Not answered there either: Redis is
/// silent for everyone (hung, or a partition), waiting is right, and the checks go on.
/// </summary>
internal sealed partial class RedisConnectionWatchdog(
    IConnectionMultiplexer connection,
    IOptions<RedisOptions> options,
    IHostApplicationLifetime lifetime,
    ILogger<RedisConnectionWatchdog> logger) : BackgroundService
{
    // Real time, whatever clock the host runs on: this is about a network that does not answer.
    private static readonly TimeProvider s_time = TimeProvider.System;

    private readonly CancellationTokenSource _dead = new();

    /// <summary>How long the new connection's answer is waited for.</summary>
    public TimeSpan ProbeDeadline { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>True once this process stopped itself because its connection was dead.</summary>
    public bool ConnectionDead => _dead.IsCancellationRequested;

    /// <summary>
    /// Cancelled at the verdict, before the stop is asked for: a wait for an answer on the shared connection (a push
    /// given a grace period after the stop) ends on it, as nothing will come.
    /// </summary>
    public CancellationToken ConnectionDeadToken => _dead.Token;

    public override void Dispose()
    {
        _dead.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var silentAfter = options.Value.DeadConnectionTimeout;
        var (configuration, validation) = RedisConnectionFactory.Configure(options.Value, "cortex-watchdog");
        using var timer = new PeriodicTimer(silentAfter / 6, s_time);
        var silent = false;
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            // Answered, or away (the connection failed and the client reconnects by itself): not silent.
            if (await RedisPing.PingAsync(connection, silentAfter, s_time, stoppingToken) != PingOutcome.Unanswered)
            {
                silent = false;
                continue;
            }

            if (await RedisRefusalProbe.AnswersAsync(configuration, validation, ProbeDeadline, stoppingToken))
            {
                await _dead.CancelAsync();
                ConnectionIsDead(logger, silentAfter, RedisConnectionFactory.DescribeEndpoints(configuration));

                // The host then closes the connection without waiting for answers (RedisConnectionCloser).
                lifetime.StopApplication();
                return;
            }

            if (!silent)
            {
                silent = true;
                RedisIsSilent(logger, silentAfter);
            }
        }
    }

    [LoggerMessage(3301, LogLevel.Critical, "Redis has not answered this process's connection for {Silence}, but answers a new one at {Endpoints}: the connection is dead without having failed. Stopping, so that a restart connects again")]
    private static partial void ConnectionIsDead(ILogger logger, TimeSpan silence, string endpoints);

    [LoggerMessage(3302, LogLevel.Warning, "Redis has not answered for {Silence}, on this process's connection or a new one: waiting for it")]
    private static partial void RedisIsSilent(ILogger logger, TimeSpan silence);
}
