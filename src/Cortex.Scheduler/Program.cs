// Thin host until the scheduling jobs land (issue #3): it validates the shared Redis and queue
// configuration at start, so a deployment with a bad config fails fast naming the key.
var builder = Host.CreateApplicationBuilder(args);
builder.Services.AddCortexQueue();
using var host = builder.Build();
return await Cortex.Shared.Hosting.CortexHost.RunAsync(host);
