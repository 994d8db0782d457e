namespace AgentIdentity;

/// <summary>Every object identifier the SDK reads or writes, in one place (shared by all packages as linked source).</summary>
internal static class Oids
{
    /// <summary>The project's UUID OID arc (ARCHITECTURE.md "Policy extension").</summary>
    public const string Arc = "2.25.13125575335917636297664607662684948779";

    /// <summary>The agent policy extension (non-critical).</summary>
    public const string AgentPolicy = Arc + ".1";

    /// <summary>The delegation chain extension (non-critical).</summary>
    public const string DelegationChain = Arc + ".2";

    /// <summary>The type of a signed revocation feed entry.</summary>
    public const string RevocationEntryType = Arc + ".3.1";

    public const string SubjectAltName = "2.5.29.17";
    public const string SubjectKeyIdentifier = "2.5.29.14";
    public const string KeyUsage = "2.5.29.15";
    public const string BasicConstraints = "2.5.29.19";
    public const string NameConstraints = "2.5.29.30";
    public const string ExtendedKeyUsage = "2.5.29.37";
    public const string ServerAuth = "1.3.6.1.5.5.7.3.1";
    public const string ClientAuth = "1.3.6.1.5.5.7.3.2";

    public const string EcPublicKey = "1.2.840.10045.2.1";
    public const string RsaEncryption = "1.2.840.113549.1.1.1";
    public const string P256 = "1.2.840.10045.3.1.7";
    public const string P384 = "1.3.132.0.34";
    public const string EcdsaSha256 = "1.2.840.10045.4.3.2";
    public const string EcdsaSha384 = "1.2.840.10045.4.3.3";
    public const string EcdsaSha512 = "1.2.840.10045.4.3.4";
    public const string RsaSha256 = "1.2.840.113549.1.1.11";
    public const string RsaSha384 = "1.2.840.113549.1.1.12";
    public const string RsaSha512 = "1.2.840.113549.1.1.13";
    public const string Pkcs9ExtensionRequest = "1.2.840.113549.1.9.14";
}
