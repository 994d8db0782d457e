using System.Security.Cryptography;
using System.Text;

namespace AgentIdentity.Audit;

/// <summary>
/// The secret key under which argument values are hashed in audit events (HMAC-SHA256): without it, a hash of a PIN or an
/// account number cannot be reversed by enumerating the candidates. Keep it apart from the log (another file system, a
/// secret store): whoever holds the log and not the key learns nothing; an auditor who holds both checks a value with
/// <see cref="Matches"/> or <c>agentid audit hash-arg</c>.
/// </summary>
/// <remarks>Immutable; thread-safe. The key bytes are never logged or exposed.</remarks>
public sealed class AuditArgumentKey
{
    /// <summary>The fewest key bytes accepted (256 bits).</summary>
    public const int MinimumLength = 32;

    private readonly byte[] _key;

    /// <summary>Initializes a new instance of the <see cref="AuditArgumentKey"/> class.</summary>
    /// <param name="key">The secret, at least <see cref="MinimumLength"/> bytes; copied.</param>
    /// <exception cref="ArgumentException">The key is shorter than <see cref="MinimumLength"/> bytes.</exception>
    public AuditArgumentKey(ReadOnlySpan<byte> key)
    {
        if (key.Length < MinimumLength)
        {
            throw new ArgumentException($"An audit argument key has at least {MinimumLength} bytes; got {key.Length}. Generate one with 'openssl rand -base64 32'.", nameof(key));
        }

        _key = key.ToArray();
    }

    /// <summary>Creates a random key that lives only in this process: hashes made with it can be compared with each other, but no one can check a value against them later.</summary>
    /// <returns>The key.</returns>
    public static AuditArgumentKey CreateEphemeral() => new(RandomNumberGenerator.GetBytes(MinimumLength));

    /// <summary>Reads a key file: the base64 of at least <see cref="MinimumLength"/> random bytes (as <c>openssl rand -base64 32</c> writes it), surrounding white space ignored.</summary>
    /// <param name="path">The key file.</param>
    /// <returns>The key.</returns>
    /// <exception cref="IOException">The file cannot be read.</exception>
    /// <exception cref="FormatException">The file is not base64 of at least <see cref="MinimumLength"/> bytes.</exception>
    public static AuditArgumentKey FromFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var text = File.ReadAllText(path, Encoding.UTF8).Trim();
        byte[] key;
        try
        {
            key = Convert.FromBase64String(text);
        }
        catch (FormatException ex)
        {
            throw new FormatException($"The audit argument key file '{path}' is not base64 (generate one with 'openssl rand -base64 32').", ex);
        }

        try
        {
            return key.Length >= MinimumLength
                ? new AuditArgumentKey(key)
                : throw new FormatException($"The audit argument key file '{path}' holds {key.Length} bytes; at least {MinimumLength} are needed (generate one with 'openssl rand -base64 32').");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>Computes the hash of a value as audit events record it: lowercase hex HMAC-SHA256 of its UTF-8 text under this key.</summary>
    /// <param name="value">The argument's text (for structured values, their JSON serialization).</param>
    /// <returns>The 64-character lowercase hex hash.</returns>
    public string Hash(string? value)
    {
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(value ?? string.Empty), mac);
        return Convert.ToHexStringLower(mac);
    }

    /// <summary>Checks, in constant time, whether <paramref name="hash"/> is the hash of <paramref name="value"/> under this key.</summary>
    /// <param name="value">The candidate value.</param>
    /// <param name="hash">The recorded hash (hex, either case).</param>
    /// <returns><see langword="true"/> when they match.</returns>
    public bool Matches(string? value, string hash)
    {
        ArgumentNullException.ThrowIfNull(hash);
        Span<byte> expected = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(value ?? string.Empty), expected);
        Span<byte> given = stackalloc byte[HMACSHA256.HashSizeInBytes];
        return hash.Length == 2 * given.Length
            && Convert.FromHexString(hash, given, out _, out var written) == System.Buffers.OperationStatus.Done && written == given.Length
            && CryptographicOperations.FixedTimeEquals(expected, given);
    }
}
