using FsCheck;
using FsCheck.Xunit;

namespace AgentIdentity.Tests.Policy;

[Properties(Arbitrary = [typeof(PolicyArbitraries)], MaxTest = 300)]
public sealed class AgentPolicyPropertyTests
{
    [Property]
    public bool IsSubsetOf_AnyPair_ChildNeverGainsAnything(AgentPolicy parent, AgentPolicy child) =>
        !child.IsSubsetOf(parent) || PolicyArbitraries.AllowsNoMoreThan(child, parent);

    [Property]
    public bool IsSubsetOf_NarrowedChild_IsSubsetAndGainsNothing(AgentPolicy parent, AgentPolicy other)
    {
        var child = parent.Intersect(other);
        return child.IsSubsetOf(parent) && child.IsSubsetOf(other) && PolicyArbitraries.AllowsNoMoreThan(child, parent);
    }

    [Property]
    public bool IsSubsetOf_Reflexive(AgentPolicy policy) => policy.IsSubsetOf(policy);

    [Property]
    public bool Intersect_Commutative(AgentPolicy a, AgentPolicy b) => a.Intersect(b).Equals(b.Intersect(a));

    [Property]
    public bool Intersect_Associative(AgentPolicy a, AgentPolicy b, AgentPolicy c) =>
        a.Intersect(b).Intersect(c).Equals(a.Intersect(b.Intersect(c)));

    [Property]
    public bool Intersect_Idempotent(AgentPolicy a) => a.Intersect(a).Equals(a);

    [Property]
    public bool Intersect_AllowsExactlyWhatBothAllow(AgentPolicy a, AgentPolicy b)
    {
        var both = a.Intersect(b);
        return PolicyArbitraries.SameAllowances(
            both,
            p => a.AllowsService(SpiffeId.Parse(p)) && b.AllowsService(SpiffeId.Parse(p)),
            p => a.AllowsAction(p) && b.AllowsAction(p),
            p => a.AllowsTool(p) && b.AllowsTool(p),
            p => a.AllowsDelegationTo(SpiffeId.Parse(p)) && b.AllowsDelegationTo(SpiffeId.Parse(p)))
            && both.MaxDelegationDepth == Math.Min(a.MaxDelegationDepth, b.MaxDelegationDepth);
    }

    [Property]
    public bool ToDer_RoundTrips(AgentPolicy policy)
    {
        var der = policy.ToDer();
        var decoded = AgentPolicy.FromDer(der);
        return decoded.Equals(policy) && decoded.ToDer().AsSpan().SequenceEqual(der) && decoded.GetHashCode() == policy.GetHashCode();
    }

    [Property]
    public bool ToDer_EqualPoliciesBuiltInAnyOrder_EncodeIdentically(AgentPolicy policy, int seed)
    {
        var random = new Random(seed);
        var shuffled = new AgentPolicy(
            Shuffle(policy.Services, random),
            Shuffle(policy.Actions, random),
            Shuffle(policy.Tools, random),
            policy.MaxDelegationDepth,
            Shuffle(policy.DelegationTargets, random),
            policy.TaskId);
        return shuffled.ToDer().AsSpan().SequenceEqual(policy.ToDer()) && shuffled.Equals(policy);

        static string[] Shuffle(IReadOnlyList<string> items, Random random)
        {
            // duplicate some entries too: canonical form drops them
            var list = items.Concat(items.Where((_, i) => i % 2 == 0)).ToArray();
            random.Shuffle(list);
            return list;
        }
    }

    [Property(MaxTest = 2000)]
    public bool FromDer_RandomBytes_OnlyThrowsPolicyFormatException(byte[] bytes) => DecodesOrRejects(bytes);

    [Property(MaxTest = 2000)]
    public bool FromDer_MutatedEncoding_OnlyThrowsPolicyFormatException(AgentPolicy policy, int position, byte value, byte mode)
    {
        var der = policy.ToDer();
        var index = (int)((uint)position % (uint)der.Length);
        byte[] mutated = (mode % 4) switch
        {
            0 => Set(der, index, value),
            1 => der[..index],
            2 => [.. der[..index], value, .. der[index..]],
            _ => Set(der, index, (byte)(der[index] ^ (1 << (value % 8)))),
        };
        return DecodesOrRejects(mutated);

        static byte[] Set(byte[] bytes, int i, byte b)
        {
            var copy = (byte[])bytes.Clone();
            copy[i] = b;
            return copy;
        }
    }

    [Property(MaxTest = 1000)]
    public bool DelegationChainFromDer_MutatedEncoding_OnlyThrowsPolicyFormatException(AgentPolicy policy, int position, byte value)
    {
        var chain = new DelegationChain([new DelegationLink(SpiffeId.Parse("spiffe://td/agent/a/1"), new byte[32], DateTimeOffset.UnixEpoch, policy)]);
        var der = chain.ToDer();
        var roundTrip = DelegationChain.FromDer(der);
        if (!roundTrip[0].Policy.Equals(policy))
        {
            return false;
        }

        var mutated = (byte[])der.Clone();
        mutated[(int)((uint)position % (uint)der.Length)] = value;
        try
        {
            DelegationChain.FromDer(mutated);
            return true;
        }
        catch (PolicyFormatException)
        {
            return true;
        }
    }

    private static bool DecodesOrRejects(byte[] bytes)
    {
        try
        {
            var policy = AgentPolicy.FromDer(bytes);
            // Whatever decodes must be canonical: re-encoding gives the same bytes.
            return policy.ToDer().AsSpan().SequenceEqual(bytes);
        }
        catch (PolicyFormatException)
        {
            return true;
        }
    }
}
