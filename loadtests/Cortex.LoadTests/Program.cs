using Cortex.LoadTests;
using Cortex.LoadTests.Chaos;
using Cortex.LoadTests.Load;

// Usage: Cortex.LoadTests demo|engine|http|scheduler|scaleout --redis host:port --postgres "connection string" [--messages N]
//        [--workers N (http: sender workers)] [--scenario all|processes|hpa|rate --repeat N (scaleout; --messages: the HPA backlog)]
//        [--profile 40ms-16|40ms-32|instant-32 --processes N (scaleout processes: one gateway profile, 1..N processes)] [--sender path/Cortex.Sender.dll]
//        loadtest [--profile short|full|smoke] [--scenarios 1,2,3,4,5,6,7] [--out DIR]
//        chaos [--profile short|smoke] [--scenarios K1,K2,K3,K4,K5,K6,K7] [--out DIR]
var command = args.Length > 0 ? args[0] : "help";
var redis = Option("--redis") ?? "127.0.0.1:6379";
var postgres = Option("--postgres") ?? "Host=127.0.0.1;Username=postgres;Database=postgres";
var messages = int.TryParse(Option("--messages"), out var n) ? n : 20_000;

return command switch
{
    "demo" => await DemoRun.RunAsync(redis, postgres, messages),
    "engine" => await PerfRun.EngineAsync(redis, messages, SenderDll()),
    "http" => await PerfRun.HttpAsync(redis, messages, SenderDll(), int.TryParse(Option("--workers"), out var w) ? w : 64),
    "scheduler" => await SchedulerPerfRun.RunAsync(redis, postgres, messages),
    "loadtest" => await LoadRun.MainAsync(redis, postgres, SenderDll(), Option("--profile") ?? "short", Option("--scenarios") ?? LoadRun.AllScenarios, Option("--out") ?? "loadtests/results/short"),
    "chaos" => await ChaosRun.MainAsync(redis, SenderDll(), Option("--profile") ?? "short", Option("--scenarios") ?? ChaosRun.AllScenarios, Option("--out") ?? "loadtests/results/chaos"),
    "scaleout" => await ScaleOutRun.RunAsync(redis, SenderDll(), Option("--scenario") ?? "all", int.TryParse(Option("--repeat"), out var r) ? r : 3, Option("--messages") is null ? 60_000 : messages, Option("--profile") ?? "all", int.TryParse(Option("--processes"), out var np) ? np : 4),
    _ => Usage(),
};

string? Option(string name)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

string SenderDll() => Option("--sender") ?? Path.Combine(AppContext.BaseDirectory, "Cortex.Sender.dll");

static int Usage()
{
    Console.Error.WriteLine("usage: Cortex.LoadTests demo|engine|http|scheduler|scaleout|loadtest|chaos --redis host:port --postgres \"connection string\" [--messages N]");
    return 2;
}
