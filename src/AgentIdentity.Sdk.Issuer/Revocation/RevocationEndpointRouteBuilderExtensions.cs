using System.Globalization;
using System.Text;
using AgentIdentity;
using AgentIdentity.AspNetCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the revocation publication endpoints of an issuer: the signed feed, the CRL and the OCSP responder.</summary>
public static partial class AgentIdentityIssuerEndpointRouteBuilderExtensions
{
    private static readonly byte[] Heartbeat = ": heartbeat\n\n"u8.ToArray();

    /// <summary>
    /// Maps, under <paramref name="pattern"/>:
    /// <list type="bullet">
    /// <item><c>GET feed</c>: server-sent events: first a <c>head</c> event (<c>data</c> = the last sequence number and the log ID,
    /// or <c>-</c>), then one <c>revocation</c> event per signed entry (<c>id</c> = sequence number, <c>data</c> = base64url DER),
    /// resuming after <c>Last-Event-ID</c> or <c>?after=</c>, with heartbeat comments;</item>
    /// <item><c>GET feed/poll?after=N</c>: long-poll fallback, a JSON array of base64url entries (empty after the wait);</item>
    /// <item><c>GET crl</c>: the current CRL, <c>application/pkix-crl</c> (DER);</item>
    /// <item><c>POST ocsp</c> (<c>application/ocsp-request</c>) and <c>GET ocsp/{base64}</c>: RFC 6960 OCSP.</item>
    /// </list>
    /// </summary>
    /// <param name="endpoints">The endpoint route builder.</param>
    /// <param name="pattern">The route prefix.</param>
    /// <param name="configure">Configures the options; may be <see langword="null"/>.</param>
    /// <returns>The group, for conventions (for example rate limiting). The endpoints are anonymous: entries, CRLs and OCSP
    /// responses are signed and public.</returns>
    public static RouteGroupBuilder MapAgentIdentityRevocation(this IEndpointRouteBuilder endpoints, string pattern = "/revocation", Action<RevocationEndpointOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(pattern);
        var options = new RevocationEndpointOptions();
        configure?.Invoke(options);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.HeartbeatInterval, TimeSpan.Zero, nameof(configure));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BatchSize, 1, nameof(configure));
        var services = endpoints.ServiceProvider;
        var registry = options.Registry ?? services.GetService<IRevocationRegistry>()
            ?? throw new InvalidOperationException("MapAgentIdentityRevocation needs an IRevocationRegistry: register one in DI (for example an InMemoryRevocationRegistry) or set RevocationEndpointOptions.Registry.");
        var ocsp = options.OcspResponder ?? services.GetService<OcspResponder>();
        var time = services.GetService<TimeProvider>() ?? TimeProvider.System;
        var logger = services.GetService<ILoggerFactory>()?.CreateLogger("AgentIdentity.AspNetCore.RevocationEndpoints") ?? NullLogger.Instance;

        var group = endpoints.MapGroup(pattern);
        group.MapGet("/feed", context => StreamFeedAsync(context, registry, options, logger));
        group.MapGet("/feed/poll", context => LongPollAsync(context, registry, options, time));
        group.MapGet("/crl", async context =>
        {
            var crl = await registry.GetCrlAsync(context.RequestAborted).ConfigureAwait(false);
            context.Response.Headers.CacheControl = "no-cache";
            await WriteAsync(context, StatusCodes.Status200OK, "application/pkix-crl", crl).ConfigureAwait(false);
        });
        group.MapPost("/ocsp", async context =>
        {
            if (ocsp is null)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }

            if (!string.Equals(context.Request.ContentType, OcspResponder.RequestMediaType, StringComparison.OrdinalIgnoreCase))
            {
                await WriteAsync(context, StatusCodes.Status415UnsupportedMediaType, "text/plain", Encoding.UTF8.GetBytes($"An OCSP request must be sent with Content-Type: {OcspResponder.RequestMediaType}.")).ConfigureAwait(false);
                return;
            }

            var body = await ReadBodyAsync(context.Request, 16 * 1024, context.RequestAborted).ConfigureAwait(false);
            var response = await ocsp.RespondAsync(body ?? ReadOnlyMemory<byte>.Empty, context.RequestAborted).ConfigureAwait(false);
            await WriteAsync(context, StatusCodes.Status200OK, OcspResponder.ResponseMediaType, response).ConfigureAwait(false);
        });
        group.MapGet("/ocsp/{**request}", async context =>
        {
            if (ocsp is null)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }

            byte[] der;
            try
            {
                der = Convert.FromBase64String(Uri.UnescapeDataString(context.Request.RouteValues["request"] as string ?? string.Empty));
            }
            catch (FormatException)
            {
                der = [];
            }

            var response = await ocsp.RespondAsync(der, context.RequestAborted).ConfigureAwait(false);
            await WriteAsync(context, StatusCodes.Status200OK, OcspResponder.ResponseMediaType, response).ConfigureAwait(false);
        });
        return group;
    }

    private static bool TryGetAfter(HttpContext context, out long after, out string? error)
    {
        after = 0;
        error = null;
        var query = context.Request.Query["after"];
        var header = context.Request.Headers["Last-Event-ID"];
        foreach (var value in query.Concat(header))
        {
            if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
            {
                error = $"'after' / Last-Event-ID must be a non-negative sequence number; '{DisplayText.Truncate(value)}' is not.";
                return false;
            }

            after = Math.Max(after, parsed);
        }

        return true;
    }

    private static async Task StreamFeedAsync(HttpContext context, IRevocationRegistry registry, RevocationEndpointOptions options, ILogger logger)
    {
        if (!TryGetAfter(context, out var after, out var error))
        {
            await WriteAsync(context, StatusCodes.Status400BadRequest, "text/plain", Encoding.UTF8.GetBytes(error!)).ConfigureAwait(false);
            return;
        }

        var aborted = context.RequestAborted;
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-store";
        context.Response.Headers["X-Accel-Buffering"] = "no";
        var body = context.Response.Body;
        _ = await registry.GetEntriesAsync(after, 1, aborted).ConfigureAwait(false); // a store-backed registry reads its head from the store
        var head = $"event: head\ndata: {registry.LastSequence.ToString(CultureInfo.InvariantCulture)} {registry.LogId ?? "-"}\n\n";
        await body.WriteAsync(Encoding.ASCII.GetBytes($"retry: 1000\n: after {after.ToString(CultureInfo.InvariantCulture)}\n\n{head}"), aborted).ConfigureAwait(false);
        await body.FlushAsync(aborted).ConfigureAwait(false);
        logger.FeedSubscriberConnected(context.Connection.RemoteIpAddress, after);
        try
        {
            while (!aborted.IsCancellationRequested)
            {
                var entries = await registry.GetEntriesAsync(after, options.BatchSize, aborted).ConfigureAwait(false);
                if (entries.Count > 0)
                {
                    var text = new StringBuilder(entries.Count * 200);
                    foreach (var entry in entries)
                    {
                        text.Append("id: ").Append(entry.Sequence.ToString(CultureInfo.InvariantCulture))
                            .Append("\nevent: revocation\ndata: ")
                            .Append(System.Buffers.Text.Base64Url.EncodeToString(entry.GetEncoded()))
                            .Append("\n\n");
                        after = entry.Sequence;
                    }

                    await body.WriteAsync(Encoding.ASCII.GetBytes(text.ToString()), aborted).ConfigureAwait(false);
                    await body.FlushAsync(aborted).ConfigureAwait(false);
                    continue;
                }

                using var beat = CancellationTokenSource.CreateLinkedTokenSource(aborted);
                beat.CancelAfter(options.HeartbeatInterval);
                var wait = registry.WaitForEntriesAsync(after, beat.Token);
                await wait.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                if (!wait.IsCompletedSuccessfully && !aborted.IsCancellationRequested)
                {
                    await body.WriteAsync(Heartbeat, aborted).ConfigureAwait(false);
                    await body.FlushAsync(aborted).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The subscriber went away.
        }
        catch (IOException) when (aborted.IsCancellationRequested)
        {
            // The subscriber went away mid-write.
        }
    }

    private static async Task LongPollAsync(HttpContext context, IRevocationRegistry registry, RevocationEndpointOptions options, TimeProvider time)
    {
        if (!TryGetAfter(context, out var after, out var error))
        {
            await WriteAsync(context, StatusCodes.Status400BadRequest, "text/plain", Encoding.UTF8.GetBytes(error!)).ConfigureAwait(false);
            return;
        }

        var entries = await registry.GetEntriesAsync(after, options.BatchSize, context.RequestAborted).ConfigureAwait(false);
        if (entries.Count == 0)
        {
            using var timeout = new CancellationTokenSource(options.MaxLongPollWait, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, context.RequestAborted);
            var wait = registry.WaitForEntriesAsync(after, linked.Token);
            await wait.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            context.RequestAborted.ThrowIfCancellationRequested();
            entries = await registry.GetEntriesAsync(after, options.BatchSize, context.RequestAborted).ConfigureAwait(false);
        }

        context.Response.Headers.CacheControl = "no-store";
        var json = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(entries.Select(e => System.Buffers.Text.Base64Url.EncodeToString(e.GetEncoded())).ToArray(), RevocationJsonContext.Default.StringArray);
        await WriteAsync(context, StatusCodes.Status200OK, "application/json", json).ConfigureAwait(false);
    }

    private static async Task WriteAsync(HttpContext context, int status, string contentType, byte[] body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
    }

    private static async Task<ReadOnlyMemory<byte>?> ReadBodyAsync(HttpRequest request, int limit, CancellationToken cancellationToken)
    {
        if (request.ContentLength > limit)
        {
            return null;
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[4096];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string[]))]
internal sealed partial class RevocationJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
