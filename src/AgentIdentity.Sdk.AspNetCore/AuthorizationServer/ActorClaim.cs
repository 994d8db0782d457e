using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AgentIdentity;

/// <summary>
/// The RFC 8693 <c>act</c> (actor) claim: a JSON object naming the current actor in <c>sub</c>, with earlier actors nested in
/// its own <c>act</c>. Only the outermost actor may be used for access decisions; nested ones are for audit.
/// </summary>
/// <remarks>
/// OpenIddict's <c>OpenIddictConstants.Claims.Actor</c> constant is <c>"actor"</c>, not RFC 8693's <c>"act"</c>: use
/// <see cref="ClaimName"/> when emitting, and <see cref="TryReadChain(JsonElement, out IReadOnlyList{string}?, out string?)"/> rejects a
/// payload that carries only <c>"actor"</c>, so that a mis-named claim is never mistaken for "no delegation".
/// </remarks>
public static class ActorClaim
{
    /// <summary>The RFC 8693 claim name.</summary>
    public const string ClaimName = "act";

    /// <summary>The longest actor chain read or written (the delegation depth limit plus the root agent).</summary>
    public const int MaxActors = AgentPolicy.MaxDelegationDepthLimit + 1;

    private const string NonStandardName = "actor";

    /// <summary>Builds a nested <c>act</c> value from actors, the current one first.</summary>
    /// <param name="actorsCurrentFirst">The actors' subjects: the current actor, then the one before it, and so on.</param>
    /// <returns>The JSON object for the <c>act</c> claim.</returns>
    /// <exception cref="ArgumentException">There are no actors, more than <see cref="MaxActors"/>, or an empty one.</exception>
    public static JsonObject Create(IEnumerable<string> actorsCurrentFirst)
    {
        ArgumentNullException.ThrowIfNull(actorsCurrentFirst);
        var actors = actorsCurrentFirst.ToList();
        if (actors.Count is 0 or > MaxActors)
        {
            throw new ArgumentException($"An actor chain has 1 to {MaxActors} actors; this one has {actors.Count}.", nameof(actorsCurrentFirst));
        }

        JsonObject? inner = null;
        for (var i = actors.Count - 1; i >= 0; i--)
        {
            if (string.IsNullOrEmpty(actors[i]))
            {
                throw new ArgumentException($"Actor {i} is empty.", nameof(actorsCurrentFirst));
            }

            var node = new JsonObject { ["sub"] = actors[i] };
            if (inner is not null)
            {
                node[ClaimName] = inner;
            }

            inner = node;
        }

        return inner!;
    }

    /// <summary>Builds the <c>act</c> value for a task identity: the task itself acts now, then its parent, up to the root agent.</summary>
    /// <param name="current">The acting identity (a task SVID's ID).</param>
    /// <param name="chain">Its delegation chain, or <see langword="null"/> for an agent's own SVID.</param>
    /// <returns>The JSON object for the <c>act</c> claim.</returns>
    public static JsonObject FromDelegation(SpiffeId current, DelegationChain? chain)
    {
        var actors = new List<string> { current.ToString() };
        if (chain is not null)
        {
            for (var i = chain.Count - 1; i >= 0; i--)
            {
                actors.Add(chain[i].Id.ToString());
            }
        }

        return Create(actors);
    }

    /// <summary>Nests an existing <c>act</c> value below a new current actor (the exchange adds one level of delegation).</summary>
    /// <param name="currentActor">The subject of the new current actor.</param>
    /// <param name="previous">The subject token's <c>act</c> value, if it had one.</param>
    /// <returns>The new <c>act</c> value.</returns>
    /// <exception cref="FormatException">The previous value is malformed or the chain would be too long.</exception>
    public static JsonObject Nest(string currentActor, JsonElement? previous)
    {
        var actors = new List<string> { currentActor };
        if (previous is { } value)
        {
            if (!TryReadActValue(value, out var earlier, out var error))
            {
                throw new FormatException($"The existing act claim is malformed: {error}");
            }

            actors.AddRange(earlier);
        }

        return Create(actors);
    }

    /// <summary>Reads the actor chain from a token payload (its JSON claims).</summary>
    /// <param name="payload">The token's claims object.</param>
    /// <param name="actorsCurrentFirst">The actors, current first; empty when the token has no <c>act</c> claim.</param>
    /// <param name="error">What is wrong, when the claim is malformed or only the non-standard <c>actor</c> claim is present.</param>
    /// <returns><see langword="true"/> when the payload has no actor claim or a well-formed <c>act</c> claim.</returns>
    public static bool TryReadChain(JsonElement payload, [NotNullWhen(true)] out IReadOnlyList<string>? actorsCurrentFirst, [NotNullWhen(false)] out string? error)
    {
        actorsCurrentFirst = null;
        if (payload.ValueKind != JsonValueKind.Object)
        {
            error = "the token payload is not a JSON object";
            return false;
        }

        if (!payload.TryGetProperty(ClaimName, out var act))
        {
            if (payload.TryGetProperty(NonStandardName, out _))
            {
                error = "the token carries an 'actor' claim but no RFC 8693 'act' claim (OpenIddict's Claims.Actor constant is \"actor\"; emit \"act\")";
                return false;
            }

            actorsCurrentFirst = [];
            error = null;
            return true;
        }

        if (!TryReadActValue(act, out var actors, out error))
        {
            return false;
        }

        actorsCurrentFirst = actors;
        return true;
    }

    private static bool TryReadActValue(JsonElement act, out List<string> actors, [NotNullWhen(false)] out string? error)
    {
        actors = [];
        var current = act;
        while (true)
        {
            if (current.ValueKind != JsonValueKind.Object)
            {
                error = $"act at depth {actors.Count} is a JSON {current.ValueKind}, not an object";
                return false;
            }

            if (!current.TryGetProperty("sub", out var sub) || sub.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(sub.GetString()))
            {
                error = $"act at depth {actors.Count} has no non-empty string 'sub'";
                return false;
            }

            actors.Add(sub.GetString()!);
            if (actors.Count > MaxActors)
            {
                error = $"the act chain is deeper than {MaxActors}";
                return false;
            }

            if (!current.TryGetProperty(ClaimName, out var next))
            {
                error = null;
                return true;
            }

            current = next;
        }
    }
}
