using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <summary>
/// Creates an <see cref="X509Svid"/> snapshot and owns it: the one object that can mark it superseded (firing its
/// <see cref="X509Svid.ChangeToken"/>) and release its private key. Consumers get <see cref="Svid"/> and cannot do either.
/// </summary>
/// <remarks>
/// <para>The shape of <see cref="System.Buffers.IMemoryOwner{T}"/> and of <see cref="CancellationTokenSource"/> with its token. Use
/// it in a credential source of your own: create an owner per snapshot, publish <see cref="Svid"/>, call
/// <see cref="MarkSuperseded"/> on the previous owner when a newer snapshot replaces it, and dispose an owner once no connection or
/// request uses its snapshot any more. Use it also for a fixed SVID you create yourself (<c>using var owner = new X509SvidOwner(...)</c>).</para>
/// <para>Thread-safe; <see cref="MarkSuperseded"/> and <see cref="Dispose"/> are idempotent.</para>
/// </remarks>
public sealed class X509SvidOwner : IDisposable
{
    /// <summary>Initializes a new instance of the <see cref="X509SvidOwner"/> class: creates the snapshot and checks it against the
    /// X.509-SVID profile.</summary>
    /// <param name="certificate">The leaf certificate, with its private key. The owner takes it over and disposes it.</param>
    /// <param name="intermediates">The intermediates to present with the leaf, leaf excluded; may be empty.</param>
    /// <exception cref="ArgumentException">The leaf has no private key, breaks the X.509-SVID leaf profile, or an intermediate is not a CA certificate.</exception>
    public X509SvidOwner(X509Certificate2 certificate, IEnumerable<X509Certificate2>? intermediates = null) =>
        Svid = new X509Svid(certificate, intermediates);

    /// <summary>Gets the snapshot this owner owns.</summary>
    public X509Svid Svid { get; }

    /// <summary>Fires the snapshot's change token without releasing its private key: for a source that publishes a newer snapshot
    /// while connections may still use this one.</summary>
    /// <remarks>Idempotent. Callbacks that throw do not stop the rotation.</remarks>
    public void MarkSuperseded() => Svid.Supersede();

    /// <summary>Fires the snapshot's change token and releases its private key (disposes the leaf certificate).</summary>
    /// <remarks>Dispose only when no connection or request still uses the snapshot.</remarks>
    public void Dispose() => Svid.Release();
}
