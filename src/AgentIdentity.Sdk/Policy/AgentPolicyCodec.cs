using System.Formats.Asn1;

namespace AgentIdentity;

/// <summary>The policy or delegation-chain extension value is malformed. The message says what is wrong.</summary>
/// <remarks>The only exception the strict decoders throw, whatever the input.</remarks>
public sealed class PolicyFormatException : FormatException
{
    /// <summary>Initializes a new instance of the <see cref="PolicyFormatException"/> class.</summary>
    public PolicyFormatException()
        : base("The policy extension is malformed.")
    {
    }

    /// <summary>Initializes a new instance of the <see cref="PolicyFormatException"/> class.</summary>
    /// <param name="message">What is wrong.</param>
    public PolicyFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="PolicyFormatException"/> class.</summary>
    /// <param name="message">What is wrong.</param>
    /// <param name="innerException">The cause.</param>
    public PolicyFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>DER encoding and strict decoding of the policy and delegation-chain extension values (docs/policy-extension.md).</summary>
internal static class AgentPolicyCodec
{
    public const int Version = 1;
    public const int MaxChainLinks = AgentPolicy.MaxDelegationDepthLimit;
    public const int MaxEncodedChainLength = 65536;
    public const int CertificateHashLength = 32;

    private static readonly Asn1Tag TaskIdTag = new(TagClass.ContextSpecific, 0);

    public static byte[] EncodePolicy(AgentPolicy policy)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER, initialCapacity: 256);
        WritePolicy(writer, policy);
        return writer.Encode();
    }

    private static void WritePolicy(AsnWriter writer, AgentPolicy policy)
    {
        using (writer.PushSequence())
        {
            writer.WriteInteger(Version);
            WriteList(writer, policy.ServicesArray);
            WriteList(writer, policy.ActionsArray);
            WriteList(writer, policy.ToolsArray);
            using (writer.PushSequence())
            {
                writer.WriteInteger(policy.MaxDelegationDepth);
                WriteList(writer, policy.DelegationTargetsArray);
            }

            if (policy.TaskId is { } taskId)
            {
                writer.WriteCharacterString(UniversalTagNumber.IA5String, taskId, TaskIdTag);
            }
        }
    }

    private static void WriteList(AsnWriter writer, string[] items)
    {
        using (writer.PushSequence())
        {
            foreach (var item in items)
            {
                writer.WriteCharacterString(UniversalTagNumber.IA5String, item);
            }
        }
    }

    public static AgentPolicy DecodePolicy(ReadOnlySpan<byte> der)
    {
        if (der.Length > AgentPolicy.MaxEncodedLength)
        {
            throw new PolicyFormatException($"The agent policy is {der.Length} bytes; at most {AgentPolicy.MaxEncodedLength} are allowed.");
        }

        try
        {
            var encoded = der.ToArray();
            var reader = new AsnReader(encoded, AsnEncodingRules.DER);
            var policy = ReadPolicy(reader, encoded);
            return policy;
        }
        catch (AsnContentException ex)
        {
            throw new PolicyFormatException($"The agent policy is not valid DER for the v{Version} module: {ex.Message}", ex);
        }
    }

    /// <summary>Reads one policy; <paramref name="encoded"/> is exactly its DER (kept as the canonical encoding).</summary>
    private static AgentPolicy ReadPolicy(AsnReader outer, byte[] encoded)
    {
        var sequence = outer.ReadSequence();
        if (outer.HasData)
        {
            throw new PolicyFormatException("The agent policy has trailing data after its SEQUENCE.");
        }

        ReadVersion(sequence, "agent policy");
        var services = ReadList(sequence, "services", AgentPolicy.MaxSpiffePatternLength, static p => PolicyPatterns.ValidateSpiffePattern(p), AgentPolicy.SpiffeCovers);
        var actions = ReadList(sequence, "actions", AgentPolicy.MaxNamePatternLength, static p => PolicyPatterns.ValidateNamePattern(p, AgentPolicy.ActionSeparator, allowDotInSegment: true, AgentPolicy.MaxNamePatternLength), AgentPolicy.ActionCovers);
        var tools = ReadList(sequence, "tools", AgentPolicy.MaxNamePatternLength, static p => PolicyPatterns.ValidateNamePattern(p, AgentPolicy.ToolSeparator, allowDotInSegment: false, AgentPolicy.MaxNamePatternLength), AgentPolicy.ToolCovers);
        var delegation = sequence.ReadSequence();
        if (!delegation.TryReadInt32(out var depth) || depth is < 0 or > AgentPolicy.MaxDelegationDepthLimit)
        {
            throw new PolicyFormatException($"The agent policy's delegation depth is outside 0..{AgentPolicy.MaxDelegationDepthLimit}.");
        }

        var targets = ReadList(delegation, "delegation targets", AgentPolicy.MaxSpiffePatternLength, static p => PolicyPatterns.ValidateSpiffePattern(p), AgentPolicy.SpiffeCovers);
        if (delegation.HasData)
        {
            throw new PolicyFormatException("The agent policy's delegation element has unexpected trailing fields.");
        }

        string? taskId = null;
        if (sequence.HasData && sequence.PeekTag() == TaskIdTag)
        {
            taskId = sequence.ReadCharacterString(UniversalTagNumber.IA5String, TaskIdTag);
            if (AgentPolicy.ValidateTaskId(taskId) is { } error)
            {
                throw new PolicyFormatException($"The agent policy's task id '{AgentPolicy.Truncate(taskId)}' is invalid: {error}.");
            }
        }

        if (sequence.HasData)
        {
            throw new PolicyFormatException($"The agent policy has an unexpected field with tag {sequence.PeekTag()} after its last known field.");
        }

        return AgentPolicy.CreateTrusted(services, actions, tools, depth, targets, taskId, encoded);
    }

    private static void ReadVersion(AsnReader reader, string what)
    {
        if (!reader.TryReadInt32(out var version))
        {
            throw new PolicyFormatException($"The {what} version is not a small INTEGER.");
        }

        if (version != Version)
        {
            throw new PolicyFormatException($"The {what} has version {version}; this SDK reads version {Version} only. Upgrade the SDK to read newer certificates.");
        }
    }

    private static string[] ReadList(AsnReader parent, string name, int maxItemLength, Func<string, string?> validate, Func<string, string, bool> covers)
    {
        var reader = parent.ReadSequence();
        var items = new List<string>();
        while (reader.HasData)
        {
            if (items.Count == AgentPolicy.MaxListLength)
            {
                throw new PolicyFormatException($"The agent policy's {name} list has more than {AgentPolicy.MaxListLength} entries.");
            }

            var item = reader.ReadCharacterString(UniversalTagNumber.IA5String);
            if (item.Length > maxItemLength)
            {
                throw new PolicyFormatException($"An entry of the agent policy's {name} list is {item.Length} characters; at most {maxItemLength} are allowed.");
            }

            if (validate(item) is { } error)
            {
                throw new PolicyFormatException($"The agent policy's {name} entry '{AgentPolicy.Truncate(item)}' is invalid: {error}.");
            }

            items.Add(item);
        }

        var array = items.ToArray();
        if (!PolicyPatterns.IsCanonical(array, covers))
        {
            throw new PolicyFormatException($"The agent policy's {name} list is not in canonical form (sorted ordinally, no duplicates, no entry covered by another); it was not produced by a conforming encoder.");
        }

        return array;
    }

    public static byte[] EncodeChain(IReadOnlyList<DelegationLink> links)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER, initialCapacity: 512);
        using (writer.PushSequence())
        {
            writer.WriteInteger(Version);
            using (writer.PushSequence())
            {
                foreach (var link in links)
                {
                    using (writer.PushSequence())
                    {
                        writer.WriteCharacterString(UniversalTagNumber.IA5String, link.Id.ToString());
                        writer.WriteOctetString(link.CertificateHashSpan);
                        writer.WriteGeneralizedTime(link.NotAfter, omitFractionalSeconds: true);
                        writer.WriteEncodedValue(link.Policy.EncodeChecked());
                    }
                }
            }
        }

        return writer.Encode();
    }

    public static DelegationChain DecodeChain(ReadOnlySpan<byte> der)
    {
        if (der.Length > MaxEncodedChainLength)
        {
            throw new PolicyFormatException($"The delegation chain is {der.Length} bytes; at most {MaxEncodedChainLength} are allowed.");
        }

        try
        {
            var reader = new AsnReader(der.ToArray(), AsnEncodingRules.DER);
            var sequence = reader.ReadSequence();
            if (reader.HasData)
            {
                throw new PolicyFormatException("The delegation chain has trailing data after its SEQUENCE.");
            }

            ReadVersion(sequence, "delegation chain");
            var linksReader = sequence.ReadSequence();
            if (sequence.HasData)
            {
                throw new PolicyFormatException("The delegation chain has unexpected fields after its links.");
            }

            var links = new List<DelegationLink>();
            while (linksReader.HasData)
            {
                if (links.Count == MaxChainLinks)
                {
                    throw new PolicyFormatException($"The delegation chain has more than {MaxChainLinks} links.");
                }

                var linkReader = linksReader.ReadSequence();
                var idText = linkReader.ReadCharacterString(UniversalTagNumber.IA5String);
                if (!SpiffeId.TryParse(idText, out var id, out var idError) || id.IsTrustDomainId)
                {
                    throw new PolicyFormatException($"Delegation chain link {links.Count} names '{AgentPolicy.Truncate(idText)}', which is not a workload SPIFFE ID ({idError ?? "it has no path"}).");
                }

                var hash = linkReader.ReadOctetString();
                if (hash.Length != CertificateHashLength)
                {
                    throw new PolicyFormatException($"Delegation chain link {links.Count} has a {hash.Length}-byte certificate hash; a SHA-256 hash has {CertificateHashLength}.");
                }

                var notAfter = linkReader.ReadGeneralizedTime();
                var policyDer = linkReader.ReadEncodedValue().ToArray();
                if (linkReader.HasData)
                {
                    throw new PolicyFormatException($"Delegation chain link {links.Count} has unexpected trailing fields.");
                }

                AgentPolicy policy;
                try
                {
                    policy = DecodePolicy(policyDer);
                }
                catch (PolicyFormatException ex)
                {
                    throw new PolicyFormatException($"Delegation chain link {links.Count} ('{id}'): {ex.Message}", ex);
                }

                links.Add(new DelegationLink(id, hash, notAfter, policy));
            }

            if (links.Count == 0)
            {
                throw new PolicyFormatException("The delegation chain has no links; a certificate without ancestors carries no chain extension.");
            }

            return new DelegationChain(links);
        }
        catch (AsnContentException ex)
        {
            throw new PolicyFormatException($"The delegation chain is not valid DER for the v{Version} module: {ex.Message}", ex);
        }
    }
}
