using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Formats.Asn1;
using System.Reflection;
using System.Security.Cryptography;
using AgentIdentity.Audit;

namespace AgentIdentity.Cli;

/// <summary>
/// The <c>agentid</c> command tree, parsed with System.CommandLine (no reflection binding, so trimming- and AOT-friendly).
/// Exit codes: 0 success, 1 verification failed (tampering found), 2 usage error, 3 unreadable input, 4 refused by the issuer
/// (401/403), 5 issuer unreachable, untrusted or failing, 6 request rejected by the issuer as invalid (400/404).
/// </summary>
/// <remarks>
/// Each command group is built by its own class (<see cref="AuditCommand"/>, <see cref="InspectCommand"/>) and added in
/// <see cref="CreateRootCommand"/>; a new group (<c>revoke</c>, <c>join-token</c>, <c>status</c>) is one more line there.
/// A command's action returns its exit code and writes to <see cref="ParseResult.InvocationConfiguration"/>'s writers.
/// Input it cannot read surfaces as an exception that <see cref="Run"/> turns into <see cref="InputError"/>; a combination
/// of arguments that cannot work surfaces as <see cref="UsageException"/> (<see cref="UsageError"/>).
/// </remarks>
internal static class AgentIdCommand
{
    public const int Ok = 0;
    public const int VerificationFailed = 1;
    public const int UsageError = 2;
    public const int InputError = 3;
    public const int Refused = 4;
    public const int IssuerFailed = 5;
    public const int RequestRejected = 6;

    private const string ExitCodes = """
        Exit codes:
          0  success
          1  verification failed (the log was tampered with, or its signer is not trusted)
          2  usage error (unknown command or option, missing or malformed argument)
          3  unreadable input (missing file or directory, malformed bundle, certificate, key, policy or checkpoint)
          4  refused by the issuer (401: no or untrusted client certificate; 403: the operator's SVID lacks the action,
             is of another trust domain, is a task identity whose effective policy lacks the action, or is revoked)
          5  the issuer or the Workload API cannot be reached, the issuer's certificate is not trusted, or it failed (429, 5xx)
          6  the issuer rejected the request as invalid (400), or does not know the serial number (404)
        """;

    /// <summary>Parses <paramref name="args"/>, runs the command and returns its exit code.</summary>
    /// <param name="args">The command-line arguments, without the program name.</param>
    /// <param name="stdout">Where results and requested help go.</param>
    /// <param name="stderr">Where errors, warnings and the help that follows a usage error go.</param>
    /// <param name="console">Whether stderr is a terminal, and the clock; <see langword="null"/> for <see cref="CliConsole.Redirected"/>.</param>
    /// <returns>The exit code.</returns>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, CliConsole? console = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);

        // Arguments are file paths: '@file' is a path, not a response file to expand.
        var parse = CreateRootCommand(console).Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });

        // System.CommandLine's parse-error action writes the errors, then the help of the command they concern; on an error,
        // that help goes to stderr with them, so that stdout carries only results (and help that was asked for).
        var usageError = parse.Action is ParseErrorAction;
        try
        {
            var code = parse.Invoke(new InvocationConfiguration
            {
                Output = usageError ? stderr : stdout,
                Error = stderr,
                EnableDefaultExceptionHandler = false,
                ProcessTerminationTimeout = null,
            });
            return usageError ? UsageError : code;
        }
        catch (IssuerUnavailableException ex)
        {
            stderr.WriteLine($"agentid: {ex.Message}");
            return IssuerFailed;
        }
        catch (AgentIdentity.Spiffe.WorkloadApiException ex)
        {
            stderr.WriteLine($"agentid: the Workload API refused: {ex.Message}");
            return IssuerFailed;
        }
        catch (UsageException ex)
        {
            stderr.WriteLine($"agentid: {ex.Message}");
            return UsageError;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or CryptographicException or AuditLogException or ArgumentException or AsnContentException)
        {
            stderr.WriteLine($"agentid: {ex.Message}");
            return InputError;
        }
    }

    /// <summary>Builds the command tree.</summary>
    /// <param name="console">Whether stderr is a terminal, and the clock; <see langword="null"/> for <see cref="CliConsole.Redirected"/>.</param>
    /// <returns>The root command, <c>agentid</c>. A group without a subcommand (<c>agentid</c>, <c>agentid audit</c>) is a usage error that shows the group's help.</returns>
    public static Command CreateRootCommand(CliConsole? console = null)
    {
        // A plain Command, not RootCommand: RootCommand takes its name from the executable (the test host, under tests),
        // and the tool is called agentid however it is started.
        return new Command("agentid", "Verifies tamper-evident agent audit logs offline, prints inclusion proofs, inspects agent certificates and their policy extensions, and administers an issuer (revoke, join-token, status) with an operator SVID.")
        {
            new HelpOption { Action = new HelpWithExitCodesAction() },
            new VersionOption { Action = new VersionAction() },
            AuditCommand.Create(console ?? CliConsole.Redirected),
            InspectCommand.Create(),
            RevokeCommand.Create(),
            JoinTokenCommand.Create(),
            StatusCommand.Create(),
            HelpCommand(),
        };
    }

    /// <summary><c>agentid help [command…]</c>, kept from the first release: the same as <c>agentid [command…] --help</c>.</summary>
    private static Command HelpCommand()
    {
        var path = new Argument<string[]>("command") { Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("help", "Shows help.") { Hidden = true };
        command.Add(path);
        command.SetAction(parse => parse.RootCommandResult.Command
            .Parse([.. parse.GetValue(path) ?? [], "--help"], new ParserConfiguration { ResponseFileTokenReplacer = null })
            .Invoke(parse.InvocationConfiguration));
        return command;
    }

    /// <summary>System.CommandLine's help, followed by the exit codes, which every command shares.</summary>
    private sealed class HelpWithExitCodesAction : SynchronousCommandLineAction
    {
        private readonly HelpAction _help = new();

        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            _help.Invoke(parseResult);
            parseResult.InvocationConfiguration.Output.WriteLine(ExitCodes);
            return Ok;
        }
    }

    /// <summary>Prints this tool's informational version (not the host's, which <see cref="VersionOption"/> would print under a test runner).</summary>
    private sealed class VersionAction : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            parseResult.InvocationConfiguration.Output.WriteLine(typeof(AgentIdCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown");
            return Ok;
        }
    }
}

/// <summary>The arguments parse, but together they cannot work; the message says which option to add or change.</summary>
/// <param name="message">The message.</param>
internal sealed class UsageException(string message) : Exception(message);
