using System.CommandLine;
using System.Text.Json;

namespace AgentIdentity.Cli;

/// <summary><c>agentid status &lt;spiffe-id&gt; --issuer URL</c>: <c>GET v1/status</c> as an operator.</summary>
internal static class StatusCommand
{
    /// <summary>Builds the <c>status</c> command.</summary>
    /// <returns>The command.</returns>
    public static Command Create()
    {
        var id = new Argument<string>("spiffe-id") { Description = "The identity to report on." };
        var json = new Option<bool>("--json") { Description = "Print the issuer's JSON answer instead of text." };
        var connection = new IssuerAdminOptions();
        var command = new Command("status", "Shows what the issuer knows of an identity (the operator's SVID must grant agentidentity:status): enrollment, revocation, certificates issued, current and revoked, and descendants.")
        {
            id,
            json,
        };
        connection.AddTo(command);
        command.SetAction(parse => Run(parse, parse.GetRequiredValue(id), parse.GetValue(json), connection));
        return command;
    }

    private static int Run(ParseResult parse, string idText, bool json, IssuerAdminOptions connection)
    {
        if (!SpiffeId.TryParse(idText, out var id, out var idError))
        {
            throw new UsageException($"'{idText}' is not a valid SPIFFE ID: {idError}.");
        }

        var output = parse.InvocationConfiguration.Output;
        var error = parse.InvocationConfiguration.Error;
        return AdminCommand.Run(parse, connection, async (client, cancellationToken) =>
        {
            var answer = await client.GetAsync($"{IssuerProtocol.StatusPath}?{IssuerProtocol.StatusIdQuery}={Uri.EscapeDataString(id.ToString())}", IssuerJsonContext.Default.IssuerStatusResponse, cancellationToken).ConfigureAwait(false);
            if (answer.Response is not { } status)
            {
                return answer.Fail(error);
            }

            if (json)
            {
                output.WriteLine(JsonSerializer.Serialize(status, IssuerJsonContext.Default.IssuerStatusResponse));
                return AgentIdCommand.Ok;
            }

            Print(status, output);
            return AgentIdCommand.Ok;
        });
    }

    private static void Print(IssuerStatusResponse status, TextWriter output)
    {
        output.WriteLine($"identity: {status.SpiffeId}");
        output.WriteLine($"  enrolled: {(status.Enrolled ? $"yes, {status.EnrolledAt:O}" : "no")}");
        if (status.ParentId is not null)
        {
            output.WriteLine($"  parent: {status.ParentId}");
        }

        output.WriteLine(status.Revocation is { } r
            ? $"  revoked: yes, {r.Kind} {r.SpiffeId ?? r.SerialNumber} ({r.Reason}) at {r.RevokedAt:O}, feed sequence {r.Sequence}"
            : "  revoked: no");
        if (!status.CertificatesRecorded)
        {
            output.WriteLine("  certificates: not recorded by this issuer's store");
            return;
        }

        var certificates = status.Certificates ?? [];
        output.WriteLine($"  current: {status.Current ?? "(none)"}");
        output.WriteLine($"  certificates: {status.CertificateCount} issued, {certificates.Count(c => c.State == "revoked")} revoked{(status.CertificateCount > certificates.Count ? $" (newest {certificates.Count} listed)" : string.Empty)}");
        foreach (var certificate in certificates)
        {
            output.WriteLine($"    {certificate.SerialNumber}  {certificate.State,-8} {certificate.Kind,-8} {certificate.NotBefore:yyyy-MM-ddTHH:mm:ssZ} to {certificate.NotAfter:yyyy-MM-ddTHH:mm:ssZ}");
        }

        var descendants = status.Descendants ?? [];
        output.WriteLine($"  descendants: {descendants.Count}");
        foreach (var descendant in descendants)
        {
            output.WriteLine($"    {descendant.SpiffeId}{(descendant.Revoked ? "  revoked" : string.Empty)}");
        }
    }
}
