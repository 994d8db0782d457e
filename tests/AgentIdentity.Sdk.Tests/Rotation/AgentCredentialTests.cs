using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
namespace AgentIdentity.Tests.Rotation;

public sealed class AgentCredentialTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Start = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private static readonly TrustDomain Td = TrustDomain.Parse("example.org");
    private readonly ObservableTimeProvider _time = new(Start);
    private DevelopmentCertificateAuthority _ca = null!;
    private FlakyIssuer _issuer = null!;

    public Task InitializeAsync()
    {
        _ca = DevelopmentCertificateAuthority.Create(Td, timeProvider: _time);
        _issuer = new FlakyIssuer(_ca, _time);
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        _ca.Dispose();
        return Task.CompletedTask;
    }

    private async Task<AgentCredential> CreateAsync(Action<AgentCredentialOptions>? configure = null)
    {
        var options = new AgentCredentialOptions();
        configure?.Invoke(options);
        var credential = await AgentCredential.CreateAsync(SpiffeId.NewAgentInstance(Td, "planner"), _issuer, options, _time);
        await _time.NextTimerAsync(); // the renewal wait is scheduled
        return credential;
    }

    private static Task NextRotationAsync(X509Svid current)
    {
        var rotated = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        current.ChangeToken.RegisterChangeCallback(_ => rotated.TrySetResult(), null);
        return rotated.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task CreateAsync_ReturnsReadyCredentialWithValidSvid()
    {
        await using var credential = await CreateAsync();

        var svid = credential.GetCurrent();
        Assert.Equal(credential.Id, svid.Id);
        Assert.True(svid.Certificate.HasPrivateKey);
        Assert.Equal(Start + TimeSpan.FromHours(1), svid.NotAfter);
        Assert.Equal(Start - TimeSpan.FromSeconds(30), svid.NotBefore);
        Assert.Same(svid, credential.GetCurrent());
        Assert.Equal(HealthStatus.Healthy, credential.GetStatus().Health);
        Assert.True(X509SvidValidator.Validate(svid.Certificate, svid.Intermediates, credential.Bundle, Start).IsValid);
    }

    [Fact]
    public async Task GetCurrent_AfterRenewalPoint_ReturnsNewSvidAndFiresChangeToken()
    {
        await using var credential = await CreateAsync(o => o.RenewalJitter = 0);
        var first = credential.GetCurrent();
        var rotated = NextRotationAsync(first);

        _time.Advance(TimeSpan.FromMinutes(29));
        Assert.False(rotated.IsCompleted);
        Assert.Same(first, credential.GetCurrent());

        _time.Advance(TimeSpan.FromMinutes(1));
        await rotated;

        var second = credential.GetCurrent();
        Assert.NotEqual(first.SerialNumber, second.SerialNumber);
        Assert.NotEqual(first.Thumbprint, second.Thumbprint);
        Assert.Equal(Start + TimeSpan.FromMinutes(90), second.NotAfter);
        Assert.True(first.IsSuperseded);
        Assert.Equal(2, credential.GetStatus().Rotations);
    }

    [Fact]
    public async Task CurrentSvid_ConsumerCannotEndIt_OnlyTheCredentialSupersedesAndReleasesIt()
    {
        // X509Svid offers consumers (tool code reading AgentCallContext.Current.Svid) no Dispose and no MarkSuperseded: a
        // `using var svid = credential.GetCurrent()` no longer compiles. Everything public leaves the live key usable.
        Assert.False(typeof(IDisposable).IsAssignableFrom(typeof(X509Svid)));
        Assert.DoesNotContain(typeof(X509Svid).GetMethods(), m => m.Name is "Dispose" or "MarkSuperseded");
        await using var credential = await CreateAsync(o => o.RenewalJitter = 0);
        var first = credential.GetCurrent();
        Assert.Same(first, first.GetCurrent());
        _ = first.GetChain();
        _ = first.ExportCertificatesPem();
        _ = first.GetCertificateHash();
        using (first.ChangeToken.RegisterChangeCallback(_ => { }, null))
        {
        }

        using (var key = first.Certificate.GetECDsaPrivateKey()!)
        {
            _ = key.SignData([1, 2, 3], System.Security.Cryptography.HashAlgorithmName.SHA256);
        }

        Assert.Same(first, credential.GetCurrent());
        Assert.False(first.IsSuperseded);
        using (var key = credential.GetCurrent().Certificate.GetECDsaPrivateKey()!)
        {
            Assert.NotEmpty(key.SignData([1, 2, 3], System.Security.Cryptography.HashAlgorithmName.SHA256));
        }

        // The owner supersedes on rotation (the key stays usable for connections still on it) and releases on disposal.
        var rotated = NextRotationAsync(first);
        _time.Advance(TimeSpan.FromMinutes(30));
        await rotated;
        var second = credential.GetCurrent();
        Assert.True(first.IsSuperseded);
        Assert.NotEqual(IntPtr.Zero, first.Certificate.Handle);
        Assert.False(second.IsSuperseded);

        await credential.DisposeAsync();

        Assert.True(second.IsSuperseded);
        Assert.Equal(IntPtr.Zero, second.Certificate.Handle);
    }

    [Fact]
    public async Task Renewal_IsJitteredWithinTenPercentOfTheHalfLife()
    {
        var points = new List<TimeSpan>();
        for (var i = 0; i < 40; i++)
        {
            await using var credential = await CreateAsync();
            points.Add(credential.GetStatus().NextRenewal!.Value - Start);
        }

        Assert.All(points, p => Assert.InRange(p, TimeSpan.FromMinutes(27), TimeSpan.FromMinutes(33)));
        Assert.True(points.Distinct().Count() > 30, "renewal points are not jittered");
        Assert.Contains(points, p => p < TimeSpan.FromMinutes(29));
        Assert.Contains(points, p => p > TimeSpan.FromMinutes(31));
    }

    [Fact]
    public async Task IssuerOutage_KeepsCurrentSvidAndBacksOffExponentially()
    {
        await using var credential = await CreateAsync(o => o.RenewalJitter = 0);
        var first = credential.GetCurrent();
        _issuer.IsDown = true;
        _time.Advance(TimeSpan.FromMinutes(30));

        var delays = new List<TimeSpan>();
        for (var i = 0; i < 10; i++)
        {
            var delay = await _time.NextTimerAsync();
            delays.Add(delay);
            Assert.Same(first, credential.GetCurrent()); // never dropped while valid
            _time.Advance(delay);
        }

        await _time.NextTimerAsync();
        Assert.Equal(12, _issuer.Attempts); // first issuance + failing renewal + 10 retries
        Assert.All(delays, d => Assert.InRange(d, TimeSpan.Zero, TimeSpan.FromSeconds(30)));
        Assert.True(delays.Take(3).Max() < TimeSpan.FromSeconds(10), $"early delays {string.Join(", ", delays)}");
        // Polly's decorrelated jitter may draw a short delay even late (its jitter is applied to each new delay), so not every one is long.
        Assert.True(delays.Skip(6).Count(d => d > TimeSpan.FromSeconds(5)) >= 2, $"late delays {string.Join(", ", delays)}");
        Assert.True(delays.Skip(4).Sum(d => d.TotalSeconds) > 4 * delays.Take(4).Sum(d => d.TotalSeconds), "delays do not grow");

        var status = credential.GetStatus();
        Assert.Equal(11, status.ConsecutiveFailures);
        Assert.Contains("CA unreachable", status.LastError, StringComparison.Ordinal);
        Assert.Equal(HealthStatus.Healthy, status.Health); // still 29 minutes of 60 left
    }

    [Fact]
    public async Task IssuerOutage_ThenRecovery_RotatesAndResetsFailures()
    {
        await using var credential = await CreateAsync(o => o.RenewalJitter = 0);
        var first = credential.GetCurrent();
        var rotated = NextRotationAsync(first);
        _issuer.IsDown = true;
        _time.Advance(TimeSpan.FromMinutes(30));
        _time.Advance(await _time.NextTimerAsync());
        _time.Advance(await _time.NextTimerAsync());

        _issuer.IsDown = false;
        _time.Advance(await _time.NextTimerAsync());
        await rotated;

        var status = credential.GetStatus();
        Assert.NotEqual(first.SerialNumber, credential.GetCurrent().SerialNumber);
        Assert.Equal(0, status.ConsecutiveFailures);
        Assert.Null(status.LastError);
        Assert.Equal(HealthStatus.Healthy, status.Health);
    }

    [Fact]
    public async Task Health_DegradedUnderQuarterLifeAndUnhealthyWhenExpired()
    {
        await using var credential = await CreateAsync(o =>
        {
            o.RenewalJitter = 0;
            o.RetryMaxDelay = TimeSpan.FromMinutes(10);
        });
        _issuer.IsDown = true;
        var first = credential.GetCurrent();

        // Drive the retry loop forward until less than a quarter of the life is left.
        _time.Advance(TimeSpan.FromMinutes(30));
        while (_time.GetUtcNow() < first.NotAfter - TimeSpan.FromMinutes(14))
        {
            _time.Advance(await _time.NextTimerAsync());
        }

        Assert.Equal(HealthStatus.Degraded, credential.GetStatus().Health);
        Assert.Same(first, credential.GetCurrent());

        while (_time.GetUtcNow() < first.NotAfter)
        {
            _time.Advance(await _time.NextTimerAsync());
        }

        Assert.Equal(HealthStatus.Unhealthy, credential.GetStatus().Health);
        var ex = Assert.Throws<IdentityUnavailableException>(() => credential.GetCurrent());
        Assert.Contains("expired", ex.Message, StringComparison.Ordinal);
        Assert.Contains("CA unreachable", ex.Message, StringComparison.Ordinal);
        Assert.False(credential.TryGetCurrent(out _));
    }

    [Fact]
    public async Task SleepPastExpiry_NeverReturnsExpiredSvidAndRecovers()
    {
        await using var credential = await CreateAsync();
        var first = credential.GetCurrent();
        _issuer.IsDown = true;

        // The machine sleeps for three hours: the wall clock jumps past NotAfter in one step.
        _time.Advance(TimeSpan.FromHours(3));
        Assert.Throws<IdentityUnavailableException>(() => credential.GetCurrent());
        Assert.Equal(HealthStatus.Unhealthy, credential.GetStatus().Health);

        // The failed attempt has scheduled its retry before the issuer comes back, so the retry (not the renewal wait after it) is advanced.
        var retry = await _time.NextTimerAsync();
        var rotated = NextRotationAsync(first);
        _issuer.IsDown = false;
        _time.Advance(retry);
        await rotated;

        var recovered = credential.GetCurrent();
        Assert.False(recovered.IsExpired(_time.GetUtcNow()));
        Assert.InRange(recovered.NotAfter - _time.GetUtcNow(), TimeSpan.FromMinutes(59), TimeSpan.FromHours(1));
        Assert.Equal(HealthStatus.Healthy, credential.GetStatus().Health);
    }

    [Fact]
    public async Task CreateAsync_IssuerDownAtStart_RetriesUntilItAnswers()
    {
        _issuer.IsDown = true;
        var creating = AgentCredential.CreateAsync(SpiffeId.NewAgentInstance(Td, "planner"), _issuer, timeProvider: _time);
        _time.Advance(await _time.NextTimerAsync());
        _time.Advance(await _time.NextTimerAsync());
        Assert.False(creating.IsCompleted);

        _issuer.IsDown = false;
        _time.Advance(await _time.NextTimerAsync());
        await using var credential = await creating.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(4, _issuer.Attempts);
        Assert.NotNull(credential.GetCurrent());
    }

    [Fact]
    public async Task CreateAsync_Cancelled_ThrowsAndStops()
    {
        _issuer.IsDown = true;
        using var cts = new CancellationTokenSource();
        var creating = AgentCredential.CreateAsync(SpiffeId.NewAgentInstance(Td, "planner"), _issuer, timeProvider: _time, cancellationToken: cts.Token);
        await _time.NextTimerAsync();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => creating);
    }

    [Theory]
    [InlineData(nameof(AgentCredentialOptions.Lifetime), "Lifetime must be between")]
    [InlineData(nameof(AgentCredentialOptions.RenewalFraction), "RenewalFraction must be between 0.1 and 0.9")]
    [InlineData(nameof(AgentCredentialOptions.RenewalJitter), "RenewalJitter must be between 0 and 0.5")]
    [InlineData(nameof(AgentCredentialOptions.RetryMaxDelay), "RetryBaseDelay must be positive")]
    public async Task CreateAsync_InvalidOptions_ThrowsNamingTheOption(string option, string message)
    {
        var options = new AgentCredentialOptions();
        switch (option)
        {
            case nameof(AgentCredentialOptions.Lifetime): options.Lifetime = TimeSpan.FromSeconds(1); break;
            case nameof(AgentCredentialOptions.RenewalFraction): options.RenewalFraction = 1.5; break;
            case nameof(AgentCredentialOptions.RenewalJitter): options.RenewalJitter = double.NaN; break;
            default: options.RetryMaxDelay = TimeSpan.FromMilliseconds(1); break;
        }

        var ex = await Assert.ThrowsAsync<ArgumentException>(() => AgentCredential.CreateAsync(SpiffeId.NewAgentInstance(Td, "p"), _issuer, options, _time));
        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, _issuer.Attempts);
    }

    [Fact]
    public async Task CreateAsync_TrustDomainIdWithoutPath_Throws()
    {
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => AgentCredential.CreateAsync(Td.Id, _issuer, timeProvider: _time));
        Assert.Contains("needs a path", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task IssuerReturningCertificateForAnotherIdentity_IsRejectedAndRetried()
    {
        using var pki = TestPki.Create("example.org", Start);
        var wrong = new MisbehavingIssuer(pki, "spiffe://example.org/agent/admin/1");
        using var logs = new Microsoft.Extensions.Logging.Testing.FakeLoggerProvider();
        using var loggerFactory = Microsoft.Extensions.Logging.LoggerFactory.Create(b => b.AddProvider(logs));
        var creating = AgentCredential.CreateAsync(SpiffeId.NewAgentInstance(Td, "planner"), wrong, timeProvider: _time, loggerFactory: loggerFactory);
        await _time.NextTimerAsync(); // a retry is scheduled: the certificate was not accepted
        Assert.False(creating.IsCompleted);
        Assert.Equal(1, wrong.Calls);
        var failure = Assert.Single(logs.Collector.GetSnapshot(), r => r.Id.Name == "InitialIssuanceFailed");
        Assert.Contains("instead of", failure.Exception!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task IssuerReturningCertificateForAnotherKey_IsRejected()
    {
        using var pki = TestPki.Create("example.org", Start);
        var wrong = new MisbehavingIssuer(pki, null);
        using var cts = new CancellationTokenSource();
        var id = SpiffeId.NewAgentInstance(Td, "planner");
        using var logs = new Microsoft.Extensions.Logging.Testing.FakeLoggerProvider();
        using var loggerFactory = Microsoft.Extensions.Logging.LoggerFactory.Create(b => b.AddProvider(logs));
        var creating = AgentCredential.CreateAsync(id, wrong, timeProvider: _time, loggerFactory: loggerFactory, cancellationToken: cts.Token);
        await _time.NextTimerAsync();
        Assert.False(creating.IsCompleted);
        var failure = Assert.Single(logs.Collector.GetSnapshot(), r => r.Id.Name == "InitialIssuanceFailed");
        Assert.Contains("different key", failure.Exception!.Message, StringComparison.Ordinal);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => creating);
    }

    /// <summary>An issuer that signs the CSR's key for another identity, or signs a different key, as a compromised or buggy CA would.</summary>
    private sealed class MisbehavingIssuer(TestPki pki, string? otherId) : IX509SvidIssuer
    {
        public int Calls;

        public ValueTask<X509SvidIssuance> IssueAsync(X509SvidRequest request, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref Calls);
            var leaf = otherId is null
                ? pki.IssueLeaf(s => { s.Uris.Clear(); s.Uris.Add(request.Id.ToString()); })
                : pki.IssueLeaf(s => { s.Uris.Clear(); s.Uris.Add(otherId); });
            if (otherId is not null)
            {
                // Same public key as requested, wrong identity.
                var csr = System.Security.Cryptography.X509Certificates.CertificateRequest.LoadSigningRequest(
                    request.CertificateSigningRequest.Span, System.Security.Cryptography.HashAlgorithmName.SHA256, out _);
                csr.CertificateExtensions.Clear();
                csr.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509BasicConstraintsExtension(false, false, 0, true));
                csr.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509KeyUsageExtension(System.Security.Cryptography.X509Certificates.X509KeyUsageFlags.DigitalSignature, true));
                csr.CertificateExtensions.Add(TestPki.BuildSan([otherId], [], true));
                leaf = csr.Create(pki.Intermediate, Start.AddMinutes(-1), Start.AddHours(1), [0x42, 0x01]);
            }

            var issuance = new X509SvidIssuance(
                System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(leaf.RawData),
                [System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(pki.Intermediate.RawData)],
                pki.Bundle);
            return ValueTask.FromResult(issuance);
        }
    }

    [Fact]
    public async Task ConcurrentReaders_DuringRotations_NeverSeeTornOrExpiredSvid()
    {
        await using var credential = await CreateAsync();
        using var stop = new CancellationTokenSource();
        var reads = 0L;
        var readers = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                var now = _time.GetUtcNow();
                var svid = credential.GetCurrent();
                Assert.Equal(credential.Id, svid.Id);
                Assert.True(svid.Certificate.HasPrivateKey);
                Assert.True(svid.NotAfter > now, "expired SVID returned");
                Assert.Equal(svid.NotAfter.UtcDateTime, svid.Certificate.NotAfter.ToUniversalTime());
                Interlocked.Increment(ref reads);
            }
        })).ToArray();

        try
        {
            for (var i = 0; i < 20; i++)
            {
                var current = credential.GetCurrent();
                var rotated = NextRotationAsync(current);
                _time.Advance(credential.GetStatus().NextRenewal!.Value - _time.GetUtcNow());
                await rotated;
                await _time.NextTimerAsync();
            }
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(readers);
        }

        Assert.Equal(21, credential.GetStatus().Rotations);
        Assert.True(Interlocked.Read(ref reads) > 0);
    }

    [Fact]
    public async Task DisposeAsync_StopsRenewalAndGetCurrentThrowsObjectDisposed()
    {
        var credential = await CreateAsync();
        var svid = credential.GetCurrent();
        await credential.DisposeAsync();

        Assert.Throws<ObjectDisposedException>(() => credential.GetCurrent());
        Assert.True(svid.IsSuperseded);
        var attempts = _issuer.Attempts;
        _time.Advance(TimeSpan.FromHours(2));
        Assert.Equal(attempts, _issuer.Attempts);
        Assert.Equal(HealthStatus.Unhealthy, credential.GetStatus().Health);
    }
}
