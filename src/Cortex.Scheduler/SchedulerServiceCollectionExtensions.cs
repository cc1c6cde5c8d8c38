using Cortex.Scheduler;
using Cortex.Scheduler.Billing;
using Cortex.Scheduler.Campaigns;
using Cortex.Scheduler.Data;
using Cortex.Scheduler.FollowUps;
using Cortex.Scheduler.Metrics;
using Cortex.Scheduler.Outbox;
using Cortex.Scheduler.Scheduling;
using Cortex.Shared.Configuration;
using Cortex.Shared.Hosting;
using Cortex.Shared.Metrics;
using Cortex.Shared.Queue;
using Cortex.Shared.Redis;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Npgsql;
using Quartz;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the scheduler: PostgreSQL, migrations, the jobs and a clustered Quartz on the same database.</summary>
public static class SchedulerServiceCollectionExtensions
{
    /// <summary>
    /// Adds the scheduler with Cortex:Postgres and Cortex:Scheduler validated at start. Quartz's store settings are read
    /// from <paramref name="configuration"/> now (Quartz wants them at registration); a bad value there stops the
    /// process at start, before Quartz connects, with the key named. Safe to call twice.
    /// </summary>
    public static IServiceCollection AddCortexScheduler(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        if (services.Any(d => d.ServiceType == typeof(JobSchedule)))
        {
            return services;
        }

        services.AddCortexQueue();
        services.AddCortexOptions<PostgresOptions, PostgresOptionsValidator>(PostgresOptions.Section);
        services.AddCortexOptions<SchedulerOptions, SchedulerOptionsValidator>(SchedulerOptions.Section);
        services.TryAddSingleton(sp =>
        {
            var postgres = sp.GetRequiredService<IOptions<PostgresOptions>>().Value;
            var builder = new NpgsqlDataSourceBuilder(PostgresSession.ConnectionString(postgres.ConnectionString, ApplicationName));
            builder.ConnectionStringBuilder.CommandTimeout = (int)postgres.CommandTimeout.TotalSeconds;

            // Whatever the connection string says: PostgreSQL's detail quotes a failing row whole (a ledger payload, a
            // recipient), full phone numbers included, and the exception text that carries it is logged.
            builder.ConnectionStringBuilder.IncludeErrorDetail = false;
            builder.UseLoggerFactory(sp.GetRequiredService<ILoggerFactory>());
            return builder.Build();
        });
        services.AddMetrics();
        services.TryAddSingleton<SchedulerMetrics>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IMetricsSource, SchedulerMetrics>(sp => sp.GetRequiredService<SchedulerMetrics>()));
        services.TryAddSingleton<Migrator>();
        services.TryAddSingleton(sp => new DispatchLedger(sp.GetRequiredService<NpgsqlDataSource>(), sp.GetRequiredService<IMessageQueue>(), sp.GetRequiredService<TimeProvider>())
        {
            ConnectionDead = sp.GetService<RedisConnectionWatchdog>()?.ConnectionDeadToken ?? CancellationToken.None,
            BacklogCheckHorizon = sp.GetRequiredService<IOptions<QueueOptions>>().Value.IdempotencyWindow,
            BacklogCheckReach = sp.GetRequiredService<IOptions<SchedulerOptions>>().Value.ExpireAfter + TimeSpan.FromDays(1),
        });
        services.TryAddSingleton<BillingReminders>();
        services.TryAddSingleton<ConversationFollowUps>();
        services.TryAddSingleton<CampaignFanOut>();
        services.TryAddTransient<BillingReminderJob>();
        services.TryAddTransient<FollowUpJob>();
        services.TryAddTransient<CampaignJob>();
        services.TryAddTransient<OutboxRepairJob>();

        var settings = Bind<SchedulerOptions>(configuration, SchedulerOptions.Section);
        var postgres = Bind<PostgresOptions>(configuration, PostgresOptions.Section);
        services.AddQuartz(q =>
        {
            q.ConfigureScheduler(s =>
            {
                s.InstanceName = string.IsNullOrWhiteSpace(settings.InstanceName) ? "cortex" : settings.InstanceName;

                // Without this a running job's CancellationToken never fires on shutdown and the pod is killed mid-batch.
                s.ShutdownJobInterruption = ShutdownJobInterruption.WhenWaitingForJobs;
            });
            q.UsePersistentStore(store =>
            {
                store.UsePostgres(string.IsNullOrWhiteSpace(postgres.ConnectionString) ? "Host=unset" : PostgresSession.ConnectionString(postgres.ConnectionString, ApplicationName + " quartz"));
                store.UseSystemTextJsonSerializer();
                store.UseClustering(c =>
                {
                    c.CheckinInterval = settings.ClusterCheckinInterval;
                    c.CheckinMisfireThreshold = settings.ClusterCheckinMisfireThreshold;
                });

                // The tables come from Cortex's migrations; Quartz only checks they are there.
                store.ConfigureStore(o =>
                {
                    o.MisfireThreshold = settings.MisfireThreshold;
                    o.SchemaProvisioning = SchemaProvisioning.Validate;
                });
            });
        });

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IStartupCheck, RedisAclCheck>(sp =>
        {
            var queue = sp.GetRequiredService<IMessageQueue>();
            return new RedisAclCheck("scheduler", queue.Keys, [queue.RefusedProducerCommandsAsync], sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<RedisAclCheck>>());
        }));

        // Order matters: hosted services start in registration order, and Quartz needs the migrated tables and the jobs.
        services.AddHostedService<MigrationService>();
        services.AddSingleton<JobSchedule>();
        services.AddHostedService(sp => sp.GetRequiredService<JobSchedule>());
        services.AddQuartzHostedService(o => o.WaitForJobsToComplete = true);
        return services;
    }

    // How this process's sessions show in pg_stat_activity: Cortex.Scheduler or cortex (the CLI), and Quartz's apart.
    private static string ApplicationName => System.Reflection.Assembly.GetEntryAssembly()?.GetName().Name ?? "Cortex";

    private static T Bind<T>(IConfiguration configuration, string section)
        where T : class, new()
    {
        try
        {
            return configuration.GetSection(section).Get<T>() ?? new T();
        }
        catch (InvalidOperationException)
        {
            // A value of the wrong type: start-up validation reports it with its key; Quartz never starts.
            return new T();
        }
    }
}
