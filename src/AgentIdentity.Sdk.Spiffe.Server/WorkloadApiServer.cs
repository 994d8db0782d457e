using System.Net.Sockets;
using AgentIdentity.Spiffe.Proto;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentIdentity.Spiffe;

/// <summary>
/// Serves the SPIFFE Workload API on a Unix socket, so that the processes an orchestrator launches (tools, MCP servers) get
/// SVIDs without linking this SDK: any SPIFFE library (go-spiffe, py-spiffe, java-spiffe) or <see cref="WorkloadApiX509Source"/>
/// works. Callers are attested by their peer credentials (<c>SO_PEERCRED</c>: uid, gid, pid, and the executable path) and mapped
/// to <see cref="WorkloadRegistration"/> entries; SVIDs are minted by an <see cref="IX509SvidIssuer"/> and re-minted and pushed
/// to every open stream before they expire.
/// </summary>
/// <remarks>Linux only (peer credentials). Callers that match no entry get <c>PermissionDenied</c>; calls without the
/// <c>workload.spiffe.io: true</c> header get <c>InvalidArgument</c>. The socket file's permissions are the first line of
/// defence: put it in a directory only the intended callers can reach.</remarks>
public sealed class WorkloadApiServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly WorkloadApiState _state;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _rotationLoop;
    private readonly TimeSpan _rotationInterval;
    private readonly TimeProvider _time;
    private int _disposed;

    private WorkloadApiServer(WebApplication app, WorkloadApiState state, string socketPath, TimeSpan rotationInterval, TimeProvider time)
    {
        _app = app;
        _state = state;
        SocketPath = socketPath;
        _rotationInterval = rotationInterval;
        _time = time;
        _rotationLoop = Task.Run(() => RotateLoopAsync(_stop.Token));
    }

    /// <summary>Gets the socket path the server listens on.</summary>
    public string SocketPath { get; }

    /// <summary>Gets the address clients use: <c>unix://&lt;SocketPath&gt;</c>.</summary>
    public WorkloadApiAddress Address => WorkloadApiAddress.ForUnixSocket(SocketPath);

    /// <summary>Starts the server.</summary>
    /// <param name="issuer">Mints the SVIDs (for example the <see cref="DevelopmentCertificateAuthority"/> or an issuer client).</param>
    /// <param name="options">The socket path and registration entries.</param>
    /// <param name="timeProvider">The clock for rotation; <see langword="null"/> for the system clock.</param>
    /// <param name="loggerFactory">The logger factory; may be <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>A listening server.</returns>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    /// <exception cref="PlatformNotSupportedException">Not Linux.</exception>
    public static async Task<WorkloadApiServer> StartAsync(IX509SvidIssuer issuer, WorkloadApiServerOptions options, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        ArgumentNullException.ThrowIfNull(options);
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("The Workload API server attests callers with SO_PEERCRED, which needs Linux.");
        }

        options.Validate();
        var time = timeProvider ?? TimeProvider.System;
        loggerFactory ??= NullLoggerFactory.Instance;
        var logger = loggerFactory.CreateLogger<WorkloadApiServer>();
        var socketPath = options.SocketPath!;
        if (File.Exists(socketPath))
        {
            File.Delete(socketPath);
        }

        var state = new WorkloadApiState(issuer, options, time, logger);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], EnvironmentName = Environments.Production });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        builder.Services.AddSingleton(state);
        builder.Services.AddGrpc();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.ListenUnixSocket(socketPath, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                listen.Use(next => connection => AttestAsync(connection, next, logger));
            });
        });
        var app = builder.Build();
        app.MapGrpcService<WorkloadApiService>();
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            state.Dispose();
            throw;
        }

        logger.ServerListening(socketPath, options.Registrations.Count);
        return new WorkloadApiServer(app, state, socketPath, options.SvidLifetime * options.RotationFraction, time);
    }

    /// <summary>Mints new SVIDs for every identity served so far and pushes them to every open stream now (for example after a
    /// key compromise). Rotation also happens on its own at <see cref="WorkloadApiServerOptions.RotationFraction"/> of the lifetime.</summary>
    /// <param name="cancellationToken">Cancels the rotation.</param>
    /// <returns>A task that completes when the new state has been published.</returns>
    public Task RotateAsync(CancellationToken cancellationToken = default) => _state.RotateAsync(cancellationToken);

    /// <summary>Replaces the registration entries and pushes the new state: callers that no longer match get <c>PermissionDenied</c>.</summary>
    /// <param name="registrations">The new entries.</param>
    /// <exception cref="ArgumentException">An entry has no selector, or an executable path without a user id.</exception>
    public void SetRegistrations(IEnumerable<WorkloadRegistration> registrations)
    {
        ArgumentNullException.ThrowIfNull(registrations);
        List<WorkloadRegistration> entries = [.. registrations];
        foreach (var entry in entries)
        {
            if (entry.SelectorError is { } error)
            {
                throw new ArgumentException($"The registration for '{entry.Id}' {error}.", nameof(registrations));
            }
        }

        _state.SetRegistrations(entries);
    }

    /// <summary>Replaces the federated bundles and pushes the new state; trust domains left out are unloaded by clients.</summary>
    /// <param name="bundles">The federated bundles.</param>
    public void SetFederatedBundles(IEnumerable<TrustBundle> bundles)
    {
        ArgumentNullException.ThrowIfNull(bundles);
        _state.SetFederatedBundles(bundles);
    }

    private static async Task AttestAsync(ConnectionContext connection, ConnectionDelegate next, ILogger logger)
    {
        PeerCredentials? credentials = null;
        if (connection.Features.Get<IConnectionSocketFeature>()?.Socket is { } socket)
        {
            try
            {
                credentials = PeerCredentials.Attest(socket);
                if (logger.IsEnabled(LogLevel.Debug))
                {
                    logger.CallerAttested(credentials.ProcessId, credentials.UserId, credentials.GroupId, credentials.ExecutablePath is { } path ? DisplayText.Escape(path) : null, credentials.Executable?.ToString());
                }
            }
            catch (Exception ex) when (ex is SocketException or PlatformNotSupportedException)
            {
                logger.PeerCredentialsUnavailable(ex);
            }
        }

        connection.Features.Set(new PeerCredentialsFeature(credentials));
        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            credentials?.Process?.Dispose();
        }
    }

    private async Task RotateLoopAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_rotationInterval, _time, stop).ConfigureAwait(false);
                await _state.RotateAsync(stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Stops listening, aborts every open stream (clients keep their SVIDs and reconnect with backoff) and removes the socket file.</summary>
    /// <returns>A task that completes when the server has stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        await _rotationLoop.ConfigureAwait(false);

        // Stop listening and abort open connections at once, so that clients see the stream fail (and reconnect with backoff)
        // instead of a graceful end that would send them straight back to a listener that is about to close.
        using (var aborted = new CancellationTokenSource())
        {
            await aborted.CancelAsync().ConfigureAwait(false);
            try
            {
                await _app.StopAsync(aborted.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Expected: the shutdown was asked to skip the graceful drain.
            }
        }

        _state.Stop();

        await _app.DisposeAsync().ConfigureAwait(false);
        _state.Dispose();
        _stop.Dispose();
        try
        {
            File.Delete(SocketPath);
        }
        catch (IOException)
        {
        }
    }
}
