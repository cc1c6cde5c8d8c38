# Cortex images: one Dockerfile, three targets.
#   docker build --target sender    -t cortex-sender .
#   docker build --target scheduler -t cortex-scheduler .
#   docker build --target cli       -t cortex-cli .
# The build stage publishes all three, so building a second target reuses its cached layers.
# CI has no Docker engine: tests/Cortex.Sender.Tests/Deploy/DockerfileTests.cs checks this file and runs the build
# stage's commands for real.

# The publish is framework-dependent IL (no RID, no apphost), the same on every CPU: building an arm64 image on an
# amd64 machine runs the SDK natively instead of under emulation.
FROM --platform=$BUILDPLATFORM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src

# Restore from the project files and central versions only, so this layer is reused until a dependency changes.
COPY global.json Directory.Build.props Directory.Packages.props BannedSymbols.txt .editorconfig ./
COPY src/Cortex.Shared/Cortex.Shared.csproj src/Cortex.Shared/
COPY src/Cortex.Sender/Cortex.Sender.csproj src/Cortex.Sender/
COPY src/Cortex.Scheduler/Cortex.Scheduler.csproj src/Cortex.Scheduler/
COPY src/Cortex.Cli/Cortex.Cli.csproj src/Cortex.Cli/
RUN dotnet restore src/Cortex.Sender/Cortex.Sender.csproj \
 && dotnet restore src/Cortex.Cli/Cortex.Cli.csproj

# The same analyzers and warnings-as-errors as `make build`: an image is never built from code CI would refuse.
COPY src/ src/
RUN dotnet publish src/Cortex.Sender/Cortex.Sender.csproj -c Release --no-restore -p:UseAppHost=false -o /app/sender \
 && dotnet publish src/Cortex.Scheduler/Cortex.Scheduler.csproj -c Release --no-restore -p:UseAppHost=false -o /app/scheduler \
 && dotnet publish src/Cortex.Cli/Cortex.Cli.csproj -c Release --no-restore -p:UseAppHost=false -o /app/cli

# Runtime: the ASP.NET Core image (Ubuntu 24.04), because every Cortex process hosts Kestrel for /metrics and /health
# (the CLI references the same shared framework). It carries tzdata, which the scheduler needs for America/Sao_Paulo;
# the -alpine and -noble-chiseled variants do not (-noble-chiseled-extra does).
# USER $APP_UID is the image's numeric uid 1654 ('app'), so Kubernetes' runAsNonRoot can verify it.
# Exec-form ENTRYPOINT: dotnet is PID 1 and receives SIGTERM itself, so the host's graceful shutdown runs.
# The services bind Cortex:Observability:Port themselves; the image's ASPNETCORE_HTTP_PORTS=8080 is emptied, or Kestrel
# would log a warning at every start that it overrides it.
# They listen on every interface of the container (Cortex__Observability__BindAddress=*), not on Cortex's default
# loopback, which `docker run -p 8080:8080`, the kubelet's probes and Prometheus could not reach. The container's own
# network namespace is the boundary: only what is published or routed to the pod gets in. With --network host it is
# the host's, so set it back to 127.0.0.1 there (the admin endpoints still need their token).

# The operator CLI, for `kubectl run ... -- stats`; it serves nothing.
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS cli
WORKDIR /app
COPY --from=build /app/cli ./
USER $APP_UID
ENTRYPOINT ["dotnet", "cortex.dll"]

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS scheduler
WORKDIR /app
COPY --from=build /app/scheduler ./
ENV ASPNETCORE_HTTP_PORTS=
ENV Cortex__Observability__BindAddress=*
USER $APP_UID
EXPOSE 8080
# `docker run cortex-scheduler migrate` applies the database migrations and exits.
ENTRYPOINT ["dotnet", "Cortex.Scheduler.dll"]

# Last, so a plain `docker build .` gives the sender.
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS sender
WORKDIR /app
COPY --from=build /app/sender ./
ENV ASPNETCORE_HTTP_PORTS=
ENV Cortex__Observability__BindAddress=*
USER $APP_UID
# Cortex:Observability:Port: GET /metrics, /health/live, /health/ready.
EXPOSE 8080
ENTRYPOINT ["dotnet", "Cortex.Sender.dll"]
