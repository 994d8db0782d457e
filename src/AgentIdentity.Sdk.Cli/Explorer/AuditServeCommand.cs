using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;
using AgentIdentity.Cli.Explorer;
using Microsoft.Extensions.Hosting;

namespace AgentIdentity.Cli;

/// <summary><c>agentid audit serve</c>: the read-only audit explorer on a local web page.</summary>
internal static class AuditServeCommand
{
    /// <summary>The default port.</summary>
    public const int DefaultPort = 8790;

    /// <summary>Builds the command.</summary>
    /// <returns>The command.</returns>
    public static Command Create()
    {
        var directory = new Argument<string>("dir") { Description = "An audit log directory, or a directory with log directories below it (agents' logs, an issuer's control-plane log)." };
        var bundle = new Option<string>("--bundle")
        {
            HelpName = "file",
            Description = "Trust bundle (SPIFFE JSON or PEM roots) that checkpoint signers must chain to; without it, signatures are checked but signers are not.",
        };
        var trustDomain = new Option<TrustDomain?>("--trust-domain")
        {
            HelpName = "name",
            Description = "Trust domain of the bundle, when its authorities name none or several.",
            CustomParser = AuditCommand.ParseTrustDomain,
        };
        var port = new Option<int>("--port")
        {
            HelpName = "port",
            Description = $"The port to listen on (default {DefaultPort}; 0 for any free port).",
            DefaultValueFactory = _ => DefaultPort,
            CustomParser = ParsePort,
        };
        var bind = new Option<IPAddress>("--bind")
        {
            HelpName = "address",
            Description = "The address to listen on (default 127.0.0.1). The page has no authentication: any other address lets everyone who can reach it read the logs.",
            DefaultValueFactory = _ => IPAddress.Loopback,
            CustomParser = ParseAddress,
        };

        var command = new Command("serve", "Serves a read-only web page over the audit logs in <dir>: each agent's timeline, tool calls with outcome and denial reason, the delegation tree, a verification badge per log, and each entry's inclusion proof. Listens on 127.0.0.1 only unless --bind says otherwise; Ctrl+C stops it.")
        {
            directory,
            bundle,
            trustDomain,
            port,
            bind,
        };
        command.SetAction(parse => Serve(
            parse.GetRequiredValue(directory),
            parse.GetValue(bundle),
            parse.GetValue(trustDomain),
            parse.GetValue(port),
            parse.GetValue(bind)!,
            parse.InvocationConfiguration.Output,
            parse.InvocationConfiguration.Error));
        return command;
    }

    private static int ParsePort(ArgumentResult result)
    {
        var text = result.Tokens[0].Value;
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value <= IPEndPoint.MaxPort)
        {
            return value;
        }

        result.AddError($"--port '{text}' is not a port (0–65535).");
        return 0;
    }

    private static IPAddress ParseAddress(ArgumentResult result)
    {
        var text = result.Tokens[0].Value;
        if (IPAddress.TryParse(text, out var address))
        {
            return address;
        }

        result.AddError($"--bind '{text}' is not an IP address (e.g. 127.0.0.1, ::1, or 0.0.0.0 for every interface).");
        return IPAddress.Loopback;
    }

    private static int Serve(string directory, string? bundlePath, TrustDomain? trustDomain, int port, IPAddress bind, TextWriter stdout, TextWriter stderr)
    {
        if (!Directory.Exists(directory))
        {
            stderr.WriteLine($"agentid: audit log directory '{directory}' does not exist.");
            return AgentIdCommand.InputError;
        }

        var trust = bundlePath is null ? null : AuditCommand.LoadBundle(bundlePath, trustDomain);
        var logs = ExplorerCatalog.FindLogDirectories(Path.GetFullPath(directory));
        if (logs.Count == 0)
        {
            stderr.WriteLine($"agentid: no audit log in '{directory}' or the {ExplorerCatalog.MaxDepth} levels below it (a log directory holds audit-*.log segments or a checkpoint file).");
            return AgentIdCommand.InputError;
        }

        if (!IPAddress.IsLoopback(bind))
        {
            stderr.WriteLine($"agentid: warning: listening on {bind}, not loopback: the explorer has no authentication, so anyone who can reach this address can read these audit logs.");
        }

        var app = AuditExplorer.Create(new AuditExplorerOptions(directory, trust, bind, port));
        try
        {
            app.StartAsync().GetAwaiter().GetResult();
        }
        catch (IOException ex)
        {
            stderr.WriteLine($"agentid: cannot listen on {bind} port {port}: {ex.Message} Choose another with --port.");
            return AgentIdCommand.InputError;
        }

        stdout.WriteLine($"Serving {logs.Count} audit log(s) from {Path.GetFullPath(directory)} at {AuditExplorer.ListeningUri(app)} (read-only). Ctrl+C stops.");
        stdout.Flush();
        app.WaitForShutdownAsync().GetAwaiter().GetResult();
        app.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return AgentIdCommand.Ok;
    }
}
