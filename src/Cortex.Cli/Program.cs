return await Cortex.Cli.Cli.RunAsync(args, Cortex.Cli.CliConsole.System());
