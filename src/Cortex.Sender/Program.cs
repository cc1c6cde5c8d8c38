// Cortex.Sender: configuration from appsettings.json, environment variables (Cortex__Sender__Workers=64) and the
// command line; every section is validated at start and a bad value exits 78 naming the key.
// GET /metrics, /health/live and /health/ready answer on Cortex:Observability:Port (default 8080).
using var app = Cortex.Sender.SenderApplication.Build(args);
return await Cortex.Shared.Hosting.CortexHost.RunAsync(app);
