using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace AgentIdentity;

/// <summary>Options for <see cref="IssuerClient"/>: where the issuer service is, how to enroll, and how to trust its server certificate.</summary>
public sealed class IssuerClientOptions
{
    /// <summary>Gets or sets the issuer's base address, for example <c>https://issuer.internal:8443/</c>. Required; must be HTTPS.</summary>
    [Required(ErrorMessage = "{0} is required (the issuer's https:// base address).")]
    public Uri? Address { get; set; }

    /// <summary>Gets or sets the one-time join token for the first enrollment. It is used once and then forgotten.</summary>
    public string? JoinToken { get; set; }

    /// <summary>Gets or sets a callback that supplies a fresh join token when the client must enroll again: a second agent
    /// identity, or recovery after the SVID expired so that renewal over mTLS is no longer possible and the issuer refused the
    /// renewal after expiry (off by default on the issuer, <c>AgentIdentityIssuerOptions.RenewalAfterExpiryGrace</c>). Return
    /// <see langword="null"/> to give up.</summary>
    public Func<SpiffeId, CancellationToken, ValueTask<string?>>? JoinTokenCallback { get; set; }

    /// <summary>Gets or sets the issuer's expected SPIFFE ID (the <c>https_spiffe</c> profile). When set, the server
    /// certificate must be an X.509-SVID for exactly this ID that validates against <see cref="ServerTrustBundle"/> (and,
    /// after the first issuance, against the latest bundle the issuer returned). When <see langword="null"/>, the server is
    /// validated with Web PKI (system trust store and host name).</summary>
    public SpiffeId? ServerId { get; set; }

    /// <summary>Gets or sets the bundle that validates the issuer's server SVID before the first issuance (bootstrap trust),
    /// required with <see cref="ServerId"/>. Distribute it out of band (a file, an environment variable).</summary>
    public TrustBundle? ServerTrustBundle { get; set; }

    /// <summary>Gets or sets the timeout of one request to the issuer.</summary>
    /// <value>The default value is 30 seconds.</value>
    [PositiveTimeSpan]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets a callback that adjusts every <see cref="System.Net.Http.SocketsHttpHandler"/> the client creates
    /// (proxy, connect callback). Do not replace its <c>SslOptions</c>.</summary>
    public Action<System.Net.Http.SocketsHttpHandler>? ConfigureHandler { get; set; }

    internal string? Validate() => OptionsValidation.Validate(null, this, new IssuerClientOptionsValidator(), IssuerClientOptionsRules.Instance);
}

/// <summary>The attribute rules of <see cref="IssuerClientOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class IssuerClientOptionsValidator : IValidateOptions<IssuerClientOptions>;

/// <summary>The rules of <see cref="IssuerClientOptions"/> that relate several options.</summary>
internal sealed class IssuerClientOptionsRules : IValidateOptions<IssuerClientOptions>
{
    public static IssuerClientOptionsRules Instance { get; } = new();

    public ValidateOptionsResult Validate(string? name, IssuerClientOptions options)
    {
        var prefix = OptionsValidation.DisplayName(name, nameof(IssuerClientOptions));
        if (options.Address is { } address && (!address.IsAbsoluteUri || address.Scheme != Uri.UriSchemeHttps))
        {
            return ValidateOptionsResult.Fail($"{prefix}.Address '{address}' must be an absolute https:// URI.");
        }

        if (options.ServerId is { } id && options.ServerTrustBundle is null)
        {
            return ValidateOptionsResult.Fail($"{prefix}.ServerTrustBundle is required to validate the issuer's SVID '{id}'.");
        }

        return options.ServerTrustBundle is { } bundle && options.ServerId is { } serverId && !serverId.IsMemberOf(bundle.TrustDomain)
            ? ValidateOptionsResult.Fail($"{prefix}.ServerTrustBundle is for trust domain '{bundle.TrustDomain}' but the issuer's ID '{serverId}' is not.")
            : ValidateOptionsResult.Success;
    }
}
