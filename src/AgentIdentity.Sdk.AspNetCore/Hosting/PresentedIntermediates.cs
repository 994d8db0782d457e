using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity.AspNetCore;

/// <summary>
/// The intermediates a client presented in its TLS handshake, remembered per client-certificate object. Kestrel exposes only
/// the leaf (<c>HttpContext.Connection.ClientCertificate</c>), which is the same object the TLS validation callback received,
/// so the handler finds the intermediates by that object. Entries live exactly as long as the certificate object.
/// </summary>
internal static class PresentedIntermediates
{
    private static readonly ConditionalWeakTable<X509Certificate, X509Certificate2[]> Chains = new();

    public static void Capture(X509Certificate certificate, X509Chain? chain)
    {
        if (chain is null)
        {
            return;
        }

        var leaf = certificate is X509Certificate2 leaf2 ? leaf2.RawDataMemory : certificate.GetRawCertData();
        var presented = new List<X509Certificate2>(chain.ChainPolicy.ExtraStore.Count);
        foreach (var candidate in chain.ChainPolicy.ExtraStore)
        {
            if (!candidate.RawDataMemory.Span.SequenceEqual(leaf.Span))
            {
                presented.Add(candidate);
            }
        }

        Chains.AddOrUpdate(certificate, [.. presented]);
    }

    public static X509Certificate2[]? Get(X509Certificate2 certificate) => Chains.TryGetValue(certificate, out var chain) ? chain : null;
}
