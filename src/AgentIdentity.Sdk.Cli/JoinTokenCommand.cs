using System.CommandLine;
using System.Text.Json;

namespace AgentIdentity.Cli;

/// <summary><c>agentid join-token create &lt;agent-name&gt; --policy policy.json --issuer URL</c>: <c>POST v1/join-tokens</c> as an operator.</summary>
internal static class JoinTokenCommand
{
    /// <summary>Builds the <c>join-token</c> group.</summary>
    /// <returns>The command.</returns>
    public static Command Create()
    {
        var name = new Argument<string>("agent-name") { Description = "The agent name; the token enrolls one instance spiffe://<td>/agent/<agent-name>/<instance>." };
        var policy = new Option<string>("--policy")
        {
            Description = "JSON file of the agent's policy: {\"services\":[...],\"actions\":[...],\"tools\":[...],\"delegationTargets\":[...],\"maxDelegationDepth\":0}. None when absent.",
        };
        var ttl = new Option<int?>("--ttl") { Description = "Seconds the token stays redeemable (the issuer's default is 600, its maximum MaxJoinTokenLifetime)." };
        var connection = new IssuerAdminOptions();
        var create = new Command("create", "Creates a one-time join token (the operator's SVID must grant agentidentity:join-token). Prints only the token on stdout; hand it to the agent once.")
        {
            name,
            policy,
            ttl,
        };
        connection.AddTo(create);
        create.SetAction(parse => Run(parse, parse.GetRequiredValue(name), parse.GetValue(policy), parse.GetValue(ttl), connection));
        return new Command("join-token", "Manages join tokens at the issuer.") { create };
    }

    private static int Run(ParseResult parse, string agentName, string? policyPath, int? ttl, IssuerAdminOptions connection)
    {
        if (ttl is <= 0)
        {
            throw new UsageException("--ttl must be a positive number of seconds.");
        }

        var policy = policyPath is null ? null : ReadPolicy(policyPath);
        var request = new IssuerJoinTokenRequest { AgentName = agentName, TtlSeconds = ttl, Policy = policy };
        var output = parse.InvocationConfiguration.Output;
        var error = parse.InvocationConfiguration.Error;
        return AdminCommand.Run(parse, connection, async (client, cancellationToken) =>
        {
            var answer = await client.PostAsync(IssuerProtocol.JoinTokensPath, request, IssuerJsonContext.Default.IssuerJoinTokenRequest, IssuerJsonContext.Default.IssuerJoinTokenResponse, cancellationToken).ConfigureAwait(false);
            if (answer.Response is not { } response)
            {
                return answer.Fail(error);
            }

            output.WriteLine(response.JoinToken);
            error.WriteLine($"agentid: join token for one instance of agent '{response.AgentName}', redeemable until {response.ExpiresAt:O}.");
            return AgentIdCommand.Ok;
        });
    }

    private static FormatException NotAPolicy(string path, JsonException ex) =>
        new($"'{path}' is not a policy JSON object ({ex.Message}); expected {{\"services\":[...],\"actions\":[...],\"tools\":[...],\"delegationTargets\":[...],\"maxDelegationDepth\":0}}.", ex);

    /// <summary>Reads the policy file and checks it locally (the issuer checks it again), so a bad file fails before any request.</summary>
    private static IssuerJoinTokenPolicy ReadPolicy(string path)
    {
        IssuerJoinTokenPolicy? policy;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException ex)
        {
            throw NotAPolicy(path, ex);
        }

        using (document)
        {
            // The one policy shape (docs/schemas/agent-policy.schema.json) has exactly these members: a misspelt one ("Tools",
            // "tool") must not silently drop a list from the token's policy. Checked before binding, to name the member.
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                foreach (var member in document.RootElement.EnumerateObject())
                {
                    if (member.Name is not (IssuerProtocol.Services or IssuerProtocol.Actions or IssuerProtocol.Tools or IssuerProtocol.DelegationTargets or IssuerProtocol.MaxDelegationDepth))
                    {
                        throw new FormatException(
                            $"'{path}' has the unknown member '{member.Name}'; a policy has only 'services', 'actions', 'tools', 'delegationTargets' and 'maxDelegationDepth' (docs/schemas/agent-policy.schema.json).");
                    }
                }
            }

            try
            {
                policy = document.RootElement.Deserialize(IssuerJsonContext.Default.IssuerJoinTokenPolicy);
            }
            catch (JsonException ex)
            {
                throw NotAPolicy(path, ex);
            }
        }

        if (policy is null)
        {
            throw new FormatException($"'{path}' holds null, not a policy JSON object.");
        }

        try
        {
            _ = new AgentPolicy(
                policy.Services?.Select(s => s ?? string.Empty), policy.Actions?.Select(s => s ?? string.Empty), policy.Tools?.Select(s => s ?? string.Empty),
                policy.MaxDelegationDepth ?? 0, policy.DelegationTargets?.Select(s => s ?? string.Empty));
        }
        catch (ArgumentException ex)
        {
            throw new FormatException($"'{path}' is not a valid policy: {ex.Message}", ex);
        }

        return policy;
    }
}
