using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity.AspNetCore;

/// <summary>Parses a forwarded client certificate header: URL-escaped PEM (nginx), PEM, or base64 DER.</summary>
internal static class ForwardedCertificateParser
{
    private const int MaxCertificates = 8;

    public static bool TryParse(string value, List<X509Certificate2> into, out string reason)
    {
        reason = string.Empty;
        var text = value.Trim();
        if (text.Contains('%', StringComparison.Ordinal))
        {
            text = Uri.UnescapeDataString(text);
        }

        try
        {
            if (text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal))
            {
                var collection = new X509Certificate2Collection();
                collection.ImportFromPem(text);
                if (collection.Count == 0 || collection.Count > MaxCertificates)
                {
                    reason = $"it holds {collection.Count} certificates; 1 to {MaxCertificates} are allowed";
                    return false;
                }

                into.AddRange(collection);
                return true;
            }

            into.Add(X509CertificateLoader.LoadCertificate(Convert.FromBase64String(text)));
            return true;
        }
        catch (Exception ex) when (ex is CryptographicException or FormatException)
        {
            reason = $"it is neither PEM nor base64 DER certificates ({ex.GetType().Name})";
            return false;
        }
    }
}
