// Cortex.Sender: configuration from appsettings.json, environment variables (Cortex__Sender__Workers=64)
// and the command line; every section is validated at start and a bad value exits 78 naming the key.
var builder = Host.CreateApplicationBuilder(args);
builder.Services.AddCortexSender();
using var host = builder.Build();
return await Cortex.Shared.Hosting.CortexHost.RunAsync(host);
