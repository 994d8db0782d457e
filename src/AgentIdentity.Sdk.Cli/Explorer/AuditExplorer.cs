using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using AgentIdentity.Audit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.Cli.Explorer;

/// <summary>What <c>agentid audit serve</c> serves, and where.</summary>
/// <param name="Root">A log directory, or a directory with log directories below it.</param>
/// <param name="Trust">The bundle that checkpoint signers must chain to; <see langword="null"/> to check signatures only.</param>
/// <param name="Address">The address to listen on (loopback unless the user asked otherwise).</param>
/// <param name="Port">The port; 0 for any free one.</param>
internal sealed record AuditExplorerOptions(string Root, TrustBundle? Trust, IPAddress Address, int Port);

/// <summary>
/// The read-only audit explorer: ASP.NET Core minimal APIs (GET only) over <see cref="ExplorerCatalog"/>, and the page's static
/// assets, embedded in this assembly. Every response carries a strict Content-Security-Policy (scripts and styles from this
/// origin only, no inline code, no framing); the page renders log data as text, never as markup.
/// </summary>
internal static class AuditExplorer
{
    /// <summary>The Content-Security-Policy of every response.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    /// <summary>The most entries one request returns.</summary>
    public const int MaxPageSize = 1000;

    /// <summary>Builds the web application; start it with <c>StartAsync</c> and read <see cref="ListeningUri"/>.</summary>
    /// <param name="options">What to serve, and where.</param>
    /// <returns>The application, not started.</returns>
    public static WebApplication Create(AuditExplorerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);

        // The empty builder reads no appsettings.json, environment or command line: nothing in the current directory can
        // reconfigure a tool that serves audit data.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(options.Address, options.Port);
        });
        builder.Services.AddRoutingCore();
        builder.Services.AddLogging(logging => logging.SetMinimumLevel(LogLevel.None));
        builder.Services.AddSingleton(new ExplorerCatalog(options.Root, options.Trust));

        var app = builder.Build();
        var allowedHosts = AllowedHosts(options.Address);
        app.Use(async (context, next) =>
        {
            var headers = context.Response.Headers;
            headers.ContentSecurityPolicy = ContentSecurityPolicy;
            headers.XContentTypeOptions = "nosniff";
            headers.XFrameOptions = "DENY";
            headers["Referrer-Policy"] = "no-referrer";
            headers["Cross-Origin-Opener-Policy"] = "same-origin";
            headers["Cross-Origin-Resource-Policy"] = "same-origin";
            headers.CacheControl = "no-store";

            // Read-only: nothing but GET and HEAD, whatever the path.
            if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
            {
                headers.Allow = "GET, HEAD";
                context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
                return;
            }

            // DNS rebinding: a page elsewhere that points its own name at 127.0.0.1 must not read the logs.
            if (allowedHosts is not null && !allowedHosts.Contains(context.Request.Host.Host))
            {
                context.Response.StatusCode = StatusCodes.Status421MisdirectedRequest;
                await context.Response.WriteAsync($"Host '{context.Request.Host.Host}' is not served here; open the address that 'agentid audit serve' printed.").ConfigureAwait(false);
                return;
            }

            await next(context).ConfigureAwait(false);
        });

        var assets = new EmbeddedFileProvider(typeof(AuditExplorer).Assembly, "explorer");
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = assets });
        app.UseStaticFiles(new StaticFileOptions { FileProvider = assets });
        app.UseRouting();

        app.MapGet("/api/logs", context => Json(context, Catalog(context).Current().Logs.Select(l => l.View).ToArray(), ExplorerJson.Default.LogViewArray));
        app.MapGet("/api/facets", context => Json(context, Catalog(context).Current().Facets(), ExplorerJson.Default.Facets));
        app.MapGet("/api/tree", context => Json(context, Catalog(context).Current().Tree().ToArray(), ExplorerJson.Default.TreeNodeArray));
        app.MapGet("/api/entries", Entries);
        app.MapGet("/api/logs/{log:int}/entries/{index:long}", Entry);
        app.MapGet("/api/logs/{log:int}/entries/{index:long}/proof", Proof);
        return app;
    }

    /// <summary>The address the started application listens on.</summary>
    /// <param name="app">The started application.</param>
    /// <returns>Its base address, e.g. <c>http://127.0.0.1:8790/</c>.</returns>
    public static Uri ListeningUri(WebApplication app)
    {
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new Uri(address.EndsWith('/') ? address : address + "/");
    }

    /// <summary>The host names a request may carry: the loopback names for a loopback address, the address itself otherwise; <see langword="null"/> (any) for a wildcard address.</summary>
    internal static HashSet<string>? AllowedHosts(IPAddress address)
    {
        if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
        {
            return null;
        }

        var hosts = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { address.ToString(), $"[{address}]" };
        if (IPAddress.IsLoopback(address))
        {
            hosts.UnionWith(["localhost", "127.0.0.1", "[::1]"]);
        }

        return hosts;
    }

    private static ExplorerCatalog Catalog(HttpContext context) => context.RequestServices.GetRequiredService<ExplorerCatalog>();

    private static Task Entries(HttpContext context)
    {
        var query = context.Request.Query;
        if (!TryInt(query["log"], out var log) || !TryTime(query["from"], out var from) || !TryTime(query["to"], out var to)
            || !TryInt(query["offset"], out var offset) || !TryInt(query["limit"], out var limit) || offset < 0 || limit < 0)
        {
            return Problem(context, StatusCodes.Status400BadRequest, "log, offset and limit must be non-negative integers; from and to RFC 3339 times (e.g. 2026-01-02T03:04:05Z).");
        }

        var filter = new EntryFilter(log, Value(query["agent"]), Value(query["tool"]), Value(query["outcome"]), from, to);
        var matches = Catalog(context).Current().Filter(filter).ToList();
        var start = Math.Min(offset ?? 0, matches.Count);
        var page = matches.Skip(start).Take(Math.Min(limit ?? 500, MaxPageSize)).Select(e => e with { Json = string.Empty }).ToArray();
        return Json(context, new EntryPage(matches.Count, start, page), ExplorerJson.Default.EntryPage);
    }

    private static Task Entry(HttpContext context)
    {
        if (Find(context) is not { } found)
        {
            return Problem(context, StatusCodes.Status404NotFound, "No such entry.");
        }

        return Json(context, found.Entry, ExplorerJson.Default.EntryView);
    }

    /// <summary>
    /// The inclusion proof of an entry against the latest checkpoint (as <c>agentid audit prove</c> computes it), verified here:
    /// the audit path leads from the leaf to the checkpoint's root, and the checkpoint's signature verifies. The page recomputes
    /// the path itself as well.
    /// </summary>
    private static Task Proof(HttpContext context)
    {
        if (Find(context) is not { } found)
        {
            return Problem(context, StatusCodes.Status404NotFound, "No such entry.");
        }

        AuditInclusionProof proof;
        try
        {
            proof = AuditLogVerifier.CreateInclusionProof(found.Log.Directory, found.Entry.Index);
        }
        catch (Exception ex) when (ex is AuditLogException or IOException)
        {
            var why = found.Entry.Status is "altered" or "unverified"
                ? $"No inclusion proof: entry {found.Entry.Index} is {found.Entry.Status}. {ex.Message}"
                : ex.Message;
            return Problem(context, StatusCodes.Status409Conflict, why);
        }

        var signatureValid = proof.Checkpoint.TryVerifySignature(out var signatureError);
        var checkpoint = proof.Checkpoint.Checkpoint;
        var view = new ProofView(proof.Index, checkpoint.TreeSize, Convert.ToHexStringLower(proof.LeafHash), Convert.ToHexStringLower(checkpoint.RootHash),
            [.. proof.Proof.Select(Convert.ToHexStringLower)], Convert.ToBase64String(proof.Entry), proof.Checkpoint.ToString(), checkpoint.Origin,
            ExplorerCatalog.AuditTimeText(proof.Checkpoint.Time), proof.Verify(), signatureValid, signatureError,
            SvidProfileName(proof.Checkpoint));
        return Json(context, view, ExplorerJson.Default.ProofView);
    }

    private static string? SvidProfileName(SignedCheckpoint checkpoint) =>
        InspectCommand.SpiffeUris(checkpoint.Certificate).FirstOrDefault(u => u.StartsWith("spiffe://", StringComparison.OrdinalIgnoreCase));

    private static (ExplorerLog Log, EntryView Entry)? Find(HttpContext context)
    {
        var values = context.Request.RouteValues;
        if (!int.TryParse(values["log"]?.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var id)
            || !long.TryParse(values["index"]?.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var index))
        {
            return null;
        }

        var logs = Catalog(context).Current().Logs;
        if (id >= logs.Count || index >= logs[id].Entries.Count)
        {
            return null;
        }

        return (logs[id], logs[id].Entries[(int)index]);
    }

    private static string? Value(Microsoft.Extensions.Primitives.StringValues value) => string.IsNullOrEmpty(value) ? null : value.ToString();

    private static bool TryInt(Microsoft.Extensions.Primitives.StringValues value, out int? result)
    {
        result = null;
        if (string.IsNullOrEmpty(value))
        {
            return true;
        }

        if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
        {
            result = parsed;
            return true;
        }

        return false;
    }

    private static bool TryTime(Microsoft.Extensions.Primitives.StringValues value, out DateTimeOffset? result)
    {
        result = null;
        if (string.IsNullOrEmpty(value))
        {
            return true;
        }

        if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
        {
            result = parsed;
            return true;
        }

        return false;
    }

    private static Task Json<T>(HttpContext context, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        return JsonSerializer.SerializeAsync(context.Response.Body, value, type, context.RequestAborted);
    }

    private static Task Problem(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        return Json(context, new ErrorView(message), ExplorerJson.Default.ErrorView);
    }
}

/// <summary>A page of filtered entries.</summary>
internal sealed record EntryPage(int Total, int Offset, EntryView[] Entries);

/// <summary>An inclusion proof as the page shows it; hashes in lowercase hex, the entry in base64.</summary>
internal sealed record ProofView(long Index, long TreeSize, string LeafHash, string RootHash, string[] Path, string Entry, string Checkpoint, string Origin,
    string Time, bool ProofValid, bool SignatureValid, string? SignatureError, string? Signer);

/// <summary>An error.</summary>
internal sealed record ErrorView(string Error);

/// <summary>The explorer's JSON (source-generated: no reflection, trimming- and AOT-safe).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(LogView[]))]
[JsonSerializable(typeof(Facets))]
[JsonSerializable(typeof(TreeNode[]))]
[JsonSerializable(typeof(EntryPage))]
[JsonSerializable(typeof(EntryView))]
[JsonSerializable(typeof(ProofView))]
[JsonSerializable(typeof(ErrorView))]
internal sealed partial class ExplorerJson : JsonSerializerContext;
