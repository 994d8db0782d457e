using System.CommandLine;

namespace AgentIdentity.Cli;

/// <summary>Runs one issuer administration request: connects with the operator's SVID, sends, maps failures to exit codes.</summary>
internal static class AdminCommand
{
    public static int Run(ParseResult parse, IssuerAdminOptions connection, Func<IssuerAdminClient, CancellationToken, Task<int>> request)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(Math.Max(1, parse.GetValue(connection.Timeout))));
        try
        {
            return RunAsync(parse, connection, request, timeout.Token).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            throw new IssuerUnavailableException($"gave up after {parse.GetValue(connection.Timeout)} seconds (Workload API or issuer not answering); raise --timeout or check the address.");
        }
    }

    private static async Task<int> RunAsync(ParseResult parse, IssuerAdminOptions connection, Func<IssuerAdminClient, CancellationToken, Task<int>> request, CancellationToken cancellationToken)
    {
        using var client = await connection.ConnectAsync(parse, cancellationToken).ConfigureAwait(false);
        return await request(client, cancellationToken).ConfigureAwait(false);
    }
}
