using System.CommandLine;

namespace AgentIdentity.Cli;

/// <summary><c>agentid revoke &lt;spiffe-id|serial&gt; --reason R --issuer URL</c>: <c>POST v1/revoke</c> as an operator.</summary>
internal static class RevokeCommand
{
    /// <summary>Builds the <c>revoke</c> command.</summary>
    /// <returns>The command.</returns>
    public static Command Create()
    {
        var target = new Argument<string>("spiffe-id|serial")
        {
            Description = "A SPIFFE ID (revokes the identity, all its certificates and its task identities) or a certificate serial number in hex (revokes that certificate).",
        };
        var reason = new Option<string>("--reason")
        {
            Description = $"The RFC 5280 reason: {RevocationReasonNames.Accepted}.",
            DefaultValueFactory = _ => "unspecified",
        };
        var connection = new IssuerAdminOptions();
        var command = new Command("revoke", "Revokes an identity or a certificate at the issuer (the operator's SVID must grant agentidentity:revoke). Prints the signed feed entry's sequence number.")
        {
            target,
            reason,
        };
        connection.AddTo(command);
        command.SetAction(parse => Run(parse, parse.GetRequiredValue(target), parse.GetRequiredValue(reason), connection));
        return command;
    }

    private static int Run(ParseResult parse, string target, string reasonName, IssuerAdminOptions connection)
    {
        if (!RevocationReasonNames.TryParse(reasonName, out _, out var reasonError))
        {
            throw new UsageException($"--reason: {reasonError}");
        }

        IssuerRevokeRequest request;
        if (target.StartsWith("spiffe://", StringComparison.OrdinalIgnoreCase))
        {
            if (!SpiffeId.TryParse(target, out var id, out var idError))
            {
                throw new UsageException($"'{target}' is not a valid SPIFFE ID: {idError}.");
            }

            request = new IssuerRevokeRequest { SpiffeId = id.ToString(), Reason = reasonName };
        }
        else
        {
            string serial;
            try
            {
                serial = RevocationEntry.NormalizeSerialNumber(target.Replace(":", string.Empty, StringComparison.Ordinal));
            }
            catch (FormatException ex)
            {
                throw new UsageException($"'{target}' is neither a SPIFFE ID (spiffe://...) nor a serial number: {ex.Message}");
            }

            request = new IssuerRevokeRequest { SerialNumber = serial, Reason = reasonName };
        }

        var output = parse.InvocationConfiguration.Output;
        var error = parse.InvocationConfiguration.Error;
        return AdminCommand.Run(parse, connection, async (client, cancellationToken) =>
        {
            var answer = await client.PostAsync(IssuerProtocol.RevokePath, request, IssuerJsonContext.Default.IssuerRevokeRequest, IssuerJsonContext.Default.IssuerRevokeResponse, cancellationToken).ConfigureAwait(false);
            if (answer.Response is not { } response)
            {
                return answer.Fail(error);
            }

            output.WriteLine($"revoked {response.Kind} {response.SpiffeId ?? response.SerialNumber} ({response.Reason}) at {response.RevokedAt:O}; feed sequence {response.Sequence}");
            if (!response.Known)
            {
                error.WriteLine($"agentid: warning: the issuer has not enrolled '{response.SpiffeId}'; it is revoked ahead of time. Check the ID for a typo.");
            }

            return AgentIdCommand.Ok;
        });
    }
}
