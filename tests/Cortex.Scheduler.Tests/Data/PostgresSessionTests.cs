using Cortex.Scheduler.Data;
using Npgsql;

namespace Cortex.Scheduler.Tests.Data;

/// <summary>The settings every Cortex and Quartz session gets (SchedulerApplicationTests checks them on a real server).</summary>
public sealed class PostgresSessionTests
{
    [Fact]
    public void ConnectionString_WhatTheOperatorSet_IsKeptAndTheRestAdded()
    {
        var cs = new NpgsqlConnectionStringBuilder(PostgresSession.ConnectionString(
            "Host=db;Password=p;Application Name=billing-node;Options='-c IDLE_IN_TRANSACTION_SESSION_TIMEOUT=30s -c statement_timeout=5s'", "Cortex.Scheduler"));

        Assert.Equal("-c IDLE_IN_TRANSACTION_SESSION_TIMEOUT=30s -c statement_timeout=5s -c tcp_keepalives_idle=60 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=6", cs.Options);
        Assert.Equal(("billing-node", "db", "p"), (cs.ApplicationName, cs.Host, cs.Password));
    }
}
