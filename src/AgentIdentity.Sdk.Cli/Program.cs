namespace AgentIdentity.Cli;

/// <summary>The entry point of the <c>agentid</c> tool.</summary>
internal static class Program
{
    private static int Main(string[] args) => AgentIdCommand.Run(args, Console.Out, Console.Error, new CliConsole(!Console.IsErrorRedirected, TimeProvider.System));
}
