using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using AgentIdentity.Spiffe;

namespace AgentIdentity.Cli;

/// <summary>
/// The options every issuer administration command shares (<c>--issuer</c>, <c>--cert</c>/<c>--key</c> or <c>--workload-api</c>,
/// <c>--bundle</c>, <c>--issuer-id</c>, <c>--timeout</c>) and the mTLS client they build: the operator's SVID is the client
/// certificate, and the issuer's server certificate is trusted by SPIFFE rules only (an SVID of the bundle's trust domain whose
/// ID is the issuer's), never by the system's web PKI.
/// </summary>
internal sealed class IssuerAdminOptions
{
    public Option<Uri> Issuer { get; } = new("--issuer")
    {
        Description = "The issuer's base address, for example https://issuer.example.org:8443/agent-identity/.",
        Required = true,
        CustomParser = result =>
        {
            var text = result.Tokens[0].Value;
            if (!Uri.TryCreate(text.EndsWith('/') ? text : text + "/", UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttps)
            {
                result.AddError($"--issuer '{text}' must be an absolute https:// address.");
                return null;
            }

            return uri;
        },
    };

    public Option<string> Cert { get; } = new("--cert") { Description = "PEM file of the operator's SVID: the leaf first, then any intermediates." };

    public Option<string> Key { get; } = new("--key") { Description = "PEM file of the operator's private key (PKCS#8 or EC)." };

    public Option<string> WorkloadApi { get; } = new("--workload-api") { Description = "Take the operator's SVID (and the bundle) from the SPIFFE Workload API at this address, for example unix:///run/spire/agent.sock." };

    public Option<string> Bundle { get; } = new("--bundle") { Description = "Trust bundle (SPIFFE JSON or PEM roots) to trust the issuer's server certificate with. Required with --cert; with --workload-api the Workload API's bundle is used when absent." };

    public Option<string> IssuerId { get; } = new("--issuer-id") { Description = "The issuer's SPIFFE ID; default spiffe://<trust domain>/agent-identity/issuer." };

    public Option<int> Timeout { get; } = new("--timeout") { Description = "Seconds to wait for the Workload API and the issuer.", DefaultValueFactory = _ => 30 };

    public void AddTo(Command command)
    {
        command.Add(Issuer);
        command.Add(Cert);
        command.Add(Key);
        command.Add(WorkloadApi);
        command.Add(Bundle);
        command.Add(IssuerId);
        command.Add(Timeout);
    }

    /// <summary>Builds the client from the parsed options, or throws <see cref="UsageException"/> naming the option to fix.</summary>
    public async Task<IssuerAdminClient> ConnectAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        var cert = parse.GetValue(Cert);
        var key = parse.GetValue(Key);
        var workloadApi = parse.GetValue(WorkloadApi);
        var bundlePath = parse.GetValue(Bundle);
        if (workloadApi is not null && (cert is not null || key is not null))
        {
            throw new UsageException("pass either --cert and --key, or --workload-api, not both.");
        }

        if (workloadApi is null && (cert is null || key is null))
        {
            throw new UsageException("the operator's SVID is required: pass --cert <svid.pem> --key <key.pem>, or --workload-api unix:///path/to/agent.sock.");
        }

        if (workloadApi is null && bundlePath is null)
        {
            throw new UsageException("--bundle is required with --cert: the issuer's server certificate is trusted only by SPIFFE validation against its trust bundle.");
        }

        if (parse.GetValue(Timeout) <= 0)
        {
            throw new UsageException("--timeout must be a positive number of seconds.");
        }

        X509Certificate2 leaf;
        X509Certificate2Collection intermediates;
        TrustBundle? bundle = bundlePath is null ? null : AuditCommand.LoadBundle(bundlePath, null);
        if (workloadApi is not null)
        {
            if (!WorkloadApiAddress.TryParse(workloadApi, out _, out var addressError))
            {
                throw new UsageException($"--workload-api '{workloadApi}': {addressError}");
            }

            var source = await WorkloadApiX509Source.CreateAsync(new WorkloadApiOptions { Address = workloadApi }, cancellationToken: cancellationToken).ConfigureAwait(false);
            await using var sourceScope = source.ConfigureAwait(false);
            var svid = source.GetCurrent();
            leaf = X509CertificateLoader.LoadPkcs12(svid.Certificate.Export(X509ContentType.Pkcs12), null);
            intermediates = new X509Certificate2Collection(svid.Intermediates.Select(c => X509CertificateLoader.LoadCertificate(c.RawData)).ToArray());
            if (bundle is null)
            {
                var domain = svid.Id.TrustDomain;
                bundle = source.TryGetBundle(domain, out var fromApi)
                    ? fromApi
                    : throw new UsageException($"the Workload API has no bundle of trust domain '{domain}'; pass --bundle.");
            }
        }
        else
        {
            var all = new X509Certificate2Collection();
            all.ImportFromPemFile(cert!);
            if (all.Count == 0)
            {
                throw new FormatException($"'{cert}' holds no PEM certificate (expected '-----BEGIN CERTIFICATE-----').");
            }

            using (var withKey = X509Certificate2.CreateFromPemFile(cert!, key))
            {
                // Through PKCS#12 so that the key is usable by SslStream on every platform.
                leaf = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
            }

            intermediates = [.. all.Skip(1)];
        }

        var issuerIdText = parse.GetValue(IssuerId);
        SpiffeId issuerId;
        if (issuerIdText is null)
        {
            issuerId = SpiffeId.Parse(bundle!.TrustDomain.Id + "/agent-identity/issuer");
        }
        else if (!SpiffeId.TryParse(issuerIdText, out issuerId, out var idError))
        {
            throw new UsageException($"--issuer-id '{issuerIdText}' is not a SPIFFE ID: {idError}.");
        }

        return new IssuerAdminClient(parse.GetRequiredValue(Issuer), leaf, intermediates, bundle!, issuerId, TimeSpan.FromSeconds(parse.GetValue(Timeout)));
    }
}

/// <summary>An mTLS client of the issuer's administration endpoints.</summary>
internal sealed class IssuerAdminClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly X509Certificate2 _leaf;

    public IssuerAdminClient(Uri address, X509Certificate2 leaf, X509Certificate2Collection intermediates, TrustBundle bundle, SpiffeId issuerId, TimeSpan timeout)
    {
        _leaf = leaf;
        var handler = new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false };
        handler.SslOptions = new SslClientAuthenticationOptions
        {
            ClientCertificateContext = SslStreamCertificateContext.Create(leaf, intermediates, offline: true),
            RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
            {
                if (certificate is null)
                {
                    return false;
                }

                var presented = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                var result = X509SvidValidator.Validate(presented, chain?.ChainPolicy.ExtraStore, bundle, TimeProvider.System.GetUtcNow());
                if (!result.IsValid)
                {
                    ServerRejection = $"the issuer's certificate is not a trusted SVID of '{bundle.TrustDomain}': {result.Reason}";
                    return false;
                }

                if (result.Id != issuerId)
                {
                    ServerRejection = $"the server is '{result.Id}', not the issuer '{issuerId}' (pass --issuer-id if the issuer has another ID)";
                    return false;
                }

                return true;
            },
            AllowTlsResume = false,
        };
        _http = new HttpClient(handler) { BaseAddress = address, Timeout = timeout };
    }

    /// <summary>Why the issuer's server certificate was not trusted, when it was not.</summary>
    public string? ServerRejection { get; private set; }

    public Task<IssuerAnswer<TResponse>> PostAsync<TRequest, TResponse>(string path, TRequest request, JsonTypeInfo<TRequest> requestType, JsonTypeInfo<TResponse> responseType, CancellationToken cancellationToken)
    {
        var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(request, requestType));
        content.Headers.ContentType = new MediaTypeHeaderValue(IssuerProtocol.JsonMediaType);
        return SendAsync(new HttpRequestMessage(HttpMethod.Post, path) { Content = content }, responseType, cancellationToken);
    }

    public Task<IssuerAnswer<TResponse>> GetAsync<TResponse>(string pathAndQuery, JsonTypeInfo<TResponse> responseType, CancellationToken cancellationToken) =>
        SendAsync(new HttpRequestMessage(HttpMethod.Get, pathAndQuery), responseType, cancellationToken);

    private async Task<IssuerAnswer<TResponse>> SendAsync<TResponse>(HttpRequestMessage request, JsonTypeInfo<TResponse> responseType, CancellationToken cancellationToken)
    {
        using (request)
        {
            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException ex)
            {
                throw new IssuerUnavailableException(ServerRejection is { } rejection
                    ? $"cannot connect to the issuer at {_http.BaseAddress}: {rejection}."
                    : $"cannot reach the issuer at {_http.BaseAddress}: {ex.Message}", ex);
            }
            catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
            {
                throw new IssuerUnavailableException($"the issuer at {_http.BaseAddress} did not answer within {_http.Timeout.TotalSeconds:0} seconds.", ex);
            }

            using (response)
            {
                var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    try
                    {
                        return new IssuerAnswer<TResponse>(JsonSerializer.Deserialize(body, responseType), null, response.StatusCode);
                    }
                    catch (JsonException ex)
                    {
                        throw new IssuerUnavailableException($"the issuer's answer is not the expected JSON: {ex.Message}", ex);
                    }
                }

                IssuerProblem? problem = null;
                try
                {
                    problem = JsonSerializer.Deserialize(body, IssuerJsonContext.Default.IssuerProblem);
                }
                catch (JsonException)
                {
                    // Not problem details: report the status.
                }

                return new IssuerAnswer<TResponse>(default, problem ?? new IssuerProblem { Status = (int)response.StatusCode, Title = response.ReasonPhrase, Detail = Encoding.UTF8.GetString(body) }, response.StatusCode);
            }
        }
    }

    public void Dispose()
    {
        _http.Dispose();
        _leaf.Dispose();
    }
}

/// <summary>What the issuer answered: the response, or the problem it refused with.</summary>
internal sealed record IssuerAnswer<TResponse>(TResponse? Response, IssuerProblem? Problem, HttpStatusCode Status)
{
    /// <summary>Writes the refusal and returns its exit code: <see cref="AgentIdCommand.Refused"/> for 401/403,
    /// <see cref="AgentIdCommand.IssuerFailed"/> for 429/5xx, <see cref="AgentIdCommand.RequestRejected"/> otherwise.</summary>
    public int Fail(TextWriter stderr)
    {
        var code = (int)Status;
        stderr.WriteLine($"agentid: the issuer refused ({code} {Problem?.Title}): {Problem?.Detail}");
        return code switch
        {
            401 or 403 => AgentIdCommand.Refused,
            429 or >= 500 => AgentIdCommand.IssuerFailed,
            _ => AgentIdCommand.RequestRejected,
        };
    }
}

/// <summary>The issuer could not be reached, its server certificate was not trusted, or it answered garbage.</summary>
internal sealed class IssuerUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
