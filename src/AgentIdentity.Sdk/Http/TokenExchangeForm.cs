namespace AgentIdentity;

/// <summary>The RFC 8693 token-exchange form (§2.1) of a task identity's client: the subject token (the parent's bound token, from
/// <see cref="BoundTokenOptions.SubjectTokenSource"/>) is exchanged by this client, which authenticates with its own certificate.</summary>
internal static class TokenExchangeForm
{
    /// <summary>Builds the form; the subject token is read now, so that each request exchanges the parent's current token.</summary>
    public static async Task<List<KeyValuePair<string, string>>> CreateAsync(string name, BoundTokenOptions options, CancellationToken cancellationToken)
    {
        string subjectToken;
        try
        {
            subjectToken = await options.SubjectTokenSource!(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new BoundTokenException($"HttpClient '{name}' could not obtain the subject token to exchange (BoundTokenOptions.SubjectTokenSource): {ex.Message}", ex);
        }

        if (string.IsNullOrEmpty(subjectToken))
        {
            throw new BoundTokenException($"HttpClient '{name}': BoundTokenOptions.SubjectTokenSource returned an empty subject token.");
        }

        var audience = options.Audience;
        var isResource = audience is not null && TokenExchangeRequest.IsWrittenAbsoluteUri(audience, out _);
        var request = new TokenExchangeRequest
        {
            SubjectToken = subjectToken,
            SubjectTokenType = options.SubjectTokenType,
            RequestedTokenType = TokenExchangeRequest.AccessTokenType,
            Scopes = options.Scope?.Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [],
            Resources = isResource ? [audience!] : [],
            Audiences = audience is not null && !isResource ? [audience] : [],
        };
        try
        {
            return [.. request.ToParameters(), new("client_id", options.ClientId!)];
        }
        catch (ArgumentException ex)
        {
            throw new BoundTokenException($"HttpClient '{name}' cannot build the token-exchange request: {ex.Message}", ex);
        }
    }

}
