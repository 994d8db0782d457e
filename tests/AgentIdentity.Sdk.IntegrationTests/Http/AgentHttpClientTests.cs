using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using AgentIdentity.IntegrationTests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;

namespace AgentIdentity.IntegrationTests.Http;

/// <summary>The agent HttpClient against real Kestrel mTLS on loopback: certificate presented, server checked, rotation under load.</summary>
public sealed class AgentHttpClientTests
{
    private const string EchoId = "spiffe://example.org/svc/echo";

    [Fact]
    public async Task GetAsync_TrustedServer_PresentsCurrentAgentSvid()
    {
        using var pki = TestPki.OnFakeClock();
        await using var server = await MtlsTestServer.StartAsync(pki);
        await using var services = AgentClient.Build(pki, server.BaseAddress, b => b.AddAgentIdentity(o => o.ServerId = EchoId));
        var credential = await AgentClient.ReadyAsync(services);
        var client = services.GetRequiredService<IHttpClientFactory>().CreateClient(AgentClient.Name);

        var seen = await client.GetStringAsync("/whoami");

        Assert.Equal(credential.GetCurrent().Thumbprint, seen);
    }

    [Fact]
    public async Task GetAsync_ResponseContentHeaders_KeptThroughGenerationTracking()
    {
        using var pki = TestPki.OnFakeClock();
        await using var server = await MtlsTestServer.StartAsync(pki, configureApp: app => app.MapGet("/typed", (HttpContext context) =>
        {
            context.Response.Headers.ContentLanguage = "de-CH";
            return Results.Text("{\"a\":1}", "application/json; charset=utf-8");
        }));
        await using var services = AgentClient.Build(pki, server.BaseAddress, b => b.AddAgentIdentity(o => o.ServerId = EchoId));
        await AgentClient.ReadyAsync(services);
        var client = services.GetRequiredService<IHttpClientFactory>().CreateClient(AgentClient.Name);

        using var response = await client.GetAsync("/typed");

        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("utf-8", response.Content.Headers.ContentType?.CharSet);
        Assert.Equal(["de-CH"], response.Content.Headers.ContentLanguage);
        Assert.Equal("{\"a\":1}", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")] // one multiplexed connection per generation: rotation must move new streams to a new connection
    public async Task GetAsync_RotationUnderConcurrentLoad_NoFailureAndNewCertificateFromNextRequestOn(string httpVersion)
    {
        using var pki = TestPki.OnFakeClock();
        await using var server = await MtlsTestServer.StartAsync(pki);
        await using var services = AgentClient.Build(pki, server.BaseAddress, b => b
            .ConfigureHttpClient(c =>
            {
                c.DefaultRequestVersion = Version.Parse(httpVersion);
                c.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
            })
            .AddAgentIdentity(o => o.ServerId = EchoId));
        var credential = await AgentClient.ReadyAsync(services);
        var client = services.GetRequiredService<IHttpClientFactory>().CreateClient(AgentClient.Name);
        using (var probe = await client.GetAsync("/whoami"))
        {
            Assert.Equal(Version.Parse(httpVersion), probe.Version);
        }

        long started = 0;
        long completed = 0;
        var failures = new ConcurrentQueue<Exception>();
        var results = new ConcurrentQueue<(long Sequence, string Thumbprint)>();
        var progress = new SemaphoreSlim(0);
        using var stop = new CancellationTokenSource();
        async Task WorkAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                var sequence = Interlocked.Increment(ref started);
                try
                {
                    results.Enqueue((sequence, await client.GetStringAsync("/whoami")));
                }
                catch (Exception ex)
                {
                    failures.Enqueue(ex);
                }

                Interlocked.Increment(ref completed);
                progress.Release();
            }
        }

        async Task WaitForCompletionsAsync(long target)
        {
            while (Interlocked.Read(ref completed) < target)
            {
                Assert.True(await progress.WaitAsync(TimeSpan.FromSeconds(30)), "requests stopped completing");
            }
        }

        var workers = Enumerable.Range(0, 8).Select(_ => Task.Run(WorkAsync)).ToArray();
        var generations = new List<(long StartedBefore, string Thumbprint)> { (0, credential.GetCurrent().Thumbprint) };
        try
        {
            await WaitForCompletionsAsync(40);
            for (var rotation = 0; rotation < 3; rotation++)
            {
                var next = await AgentClient.RotateAsync(pki, credential, TimeSpan.FromMinutes(42));
                generations.Add((Interlocked.Read(ref started), next.Thumbprint));
                await WaitForCompletionsAsync(Interlocked.Read(ref completed) + 40);
            }
        }
        finally
        {
            // Stop the workers whatever happened, so that a failed assertion ends the test instead of leaving them spinning.
            await stop.CancelAsync();
            await Task.WhenAll(workers);
        }

        Assert.Empty(failures);
        for (var g = 1; g < generations.Count; g++)
        {
            // A request started after rotation g was observed must present certificate g or a newer one (a request that starts
            // between a later rotation and the moment the test records it legitimately presents the newer one), never an older one.
            var from = generations[g].StartedBefore;
            var wrong = results.Where(r => r.Sequence > from)
                .Select(r => (r.Sequence, Generation: generations.FindIndex(x => x.Thumbprint == r.Thumbprint)))
                .Where(r => r.Generation < g)
                .Select(r => $"request {r.Sequence} (started after rotation {g} at {from}) presented generation {r.Generation}")
                .ToList();
            Assert.True(wrong.Count == 0, string.Join("; ", wrong));
            Assert.Contains(results, r => r.Thumbprint == generations[g].Thumbprint);
        }

        Assert.Equal(generations.Select(g => g.Thumbprint), server.ClientThumbprints.Distinct());
    }

    [Fact]
    public async Task GetAsync_ServerHasOtherSpiffeId_ThrowsPeerRejectedAndSendsNothing()
    {
        using var pki = TestPki.OnFakeClock();
        await using var server = await MtlsTestServer.StartAsync(pki, serverPath: "/svc/impostor");
        await using var services = AgentClient.Build(pki, server.BaseAddress, b => b.AddAgentIdentity(o => o.ServerId = EchoId));
        await AgentClient.ReadyAsync(services);
        var client = services.GetRequiredService<IHttpClientFactory>().CreateClient(AgentClient.Name);

        var ex = await Assert.ThrowsAsync<PeerRejectedException>(() => client.GetAsync("/whoami"));

        Assert.Equal("spiffe://example.org/svc/impostor", ex.Peer.ToString());
        Assert.Contains($"not the expected '{EchoId}'", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, server.RequestCount);
    }

    [Fact]
    public async Task GetAsync_ServerFromUntrustedCa_ThrowsPeerRejected()
    {
        using var pki = TestPki.OnFakeClock();
        using var otherPki = TestPki.OnFakeClock(time: pki.Clock);
        await using var server = await MtlsTestServer.StartAsync(otherPki, validateClient: (_, _) => true);
        await using var services = AgentClient.Build(pki, server.BaseAddress, b => b.AddAgentIdentity(o => o.ServerId = EchoId));
        await AgentClient.ReadyAsync(services);
        var client = services.GetRequiredService<IHttpClientFactory>().CreateClient(AgentClient.Name);

        var ex = await Assert.ThrowsAsync<PeerRejectedException>(() => client.GetAsync("/whoami"));

        Assert.Contains("not trusted", ex.Message, StringComparison.Ordinal);
        Assert.Contains("does not lead to an X.509 authority", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, server.RequestCount);
    }

    [Fact]
    public async Task GetAsync_DefaultAuthorizer_RejectsServerOfOtherTrustDomain()
    {
        using var pki = TestPki.OnFakeClock();
        using var otherPki = TestPki.OnFakeClock("other.example", pki.Clock);
        await using var server = await MtlsTestServer.StartAsync(otherPki, validateClient: (_, _) => true);
        var bundles = new TrustBundleSet([pki.Ca.Bundle, otherPki.Ca.Bundle]);
        await using var services = AgentClient.Build(pki, server.BaseAddress, b => b.AddAgentIdentity(o => o.TrustBundleSource = bundles));
        await AgentClient.ReadyAsync(services);
        var client = services.GetRequiredService<IHttpClientFactory>().CreateClient(AgentClient.Name);

        var ex = await Assert.ThrowsAsync<PeerRejectedException>(() => client.GetAsync("/whoami"));

        Assert.Contains("not a member of trust domain 'example.org'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetAsync_SvidExpiredAndIssuerDown_ThrowsIdentityUnavailableAndNeverPresentsIt()
    {
        using var pki = TestPki.OnFakeClock();
        await using var server = await MtlsTestServer.StartAsync(pki);
        var issuer = new SwitchableIssuer(pki.Ca);
        await using var services = AgentClient.Build(pki, server.BaseAddress, b => b.AddAgentIdentity(o => o.ServerId = EchoId), issuer);
        var credential = await AgentClient.ReadyAsync(services);
        var client = services.GetRequiredService<IHttpClientFactory>().CreateClient(AgentClient.Name);
        Assert.Equal(credential.GetCurrent().Thumbprint, await client.GetStringAsync("/whoami"));

        issuer.Fail = true;
        pki.Clock.Advance(TimeSpan.FromMinutes(61));

        var ex = await Assert.ThrowsAsync<IdentityUnavailableException>(() => client.GetAsync("/whoami"));
        Assert.Contains("expired", ex.Message, StringComparison.Ordinal);
        Assert.Equal(1, server.RequestCount);
    }

    [Fact]
    public async Task HandlerRecycling_FactoryDisposesOldChain_GenerationAndItsConnectionSurvive()
    {
        using var pki = TestPki.OnFakeClock();
        await using var server = await MtlsTestServer.StartAsync(pki);
        await using var services = AgentClient.Build(pki, server.BaseAddress, b => b.AddAgentIdentity(o => o.ServerId = EchoId));
        await AgentClient.ReadyAsync(services);
        var factoryOptions = services.GetRequiredService<IOptionsMonitor<HttpClientFactoryOptions>>().Get(AgentClient.Name);
        HttpMessageHandler BuildChain()
        {
            // Exactly what IHttpClientFactory does for each handler lifetime; it disposes the chain when the lifetime ends.
            var builder = services.GetRequiredService<HttpMessageHandlerBuilder>();
            builder.Name = AgentClient.Name;
            foreach (var action in factoryOptions.HttpMessageHandlerBuilderActions)
            {
                action(builder);
            }

            return builder.Build();
        }

        string firstConnection;
        using (var first = new HttpClient(BuildChain(), disposeHandler: true) { BaseAddress = server.BaseAddress })
        {
            firstConnection = await first.GetStringAsync("/conn");
        }

        using var second = new HttpClient(BuildChain(), disposeHandler: true) { BaseAddress = server.BaseAddress };
        var secondConnection = await second.GetStringAsync("/conn");

        Assert.Equal(firstConnection, secondConnection);
    }

    [Fact]
    public async Task GetAsync_WithCallContextAndActivity_SendsAttributionAndTraceparent()
    {
        using var pki = TestPki.OnFakeClock();
        await using var server = await MtlsTestServer.StartAsync(pki);
        await using var services = AgentClient.Build(pki, server.BaseAddress, b => b.AddAgentIdentity(o => o.ServerId = EchoId));
        var credential = await AgentClient.ReadyAsync(services);
        var client = services.GetRequiredService<IHttpClientFactory>().CreateClient(AgentClient.Name);
        using var activity = new Activity("agent-tool-call").SetIdFormat(ActivityIdFormat.W3C).Start();
        using var scope = AgentCallContext.Begin(new AgentCallContext
        {
            AgentId = credential.Id,
            ToolName = "Erp-GetInvoice",
            ToolCallId = "call_1",
            TaskId = "task 7\r\nX-Injected: yes",
        });

        var headers = (await client.GetStringAsync("/headers")).Split('\n');

        Assert.Contains($"X-Agent-Id: {credential.Id}", headers);
        Assert.Contains("X-Agent-Tool: Erp-GetInvoice", headers);
        Assert.Contains("X-Agent-Tool-Call-Id: call_1", headers);
        Assert.Contains("X-Agent-Task-Id: task%207%0D%0AX-Injected%3A%20yes", headers);
        Assert.DoesNotContain(headers, h => h.StartsWith("X-Injected", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(headers, h => h.StartsWith($"traceparent: 00-{activity.TraceId}-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AddAgentIdentity_ConfigurationSection_BindsServerId()
    {
        using var pki = TestPki.OnFakeClock();
        await using var server = await MtlsTestServer.StartAsync(pki);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Erp:ServerId"] = "spiffe://example.org/svc/other",
            ["Erp:AllowTlsResume"] = "true",
            ["Erp:AllowUnsafeMethodRetries"] = "true",
        }).Build();
        await using var services = AgentClient.Build(pki, server.BaseAddress, b => b.AddAgentIdentity(configuration.GetSection("Erp")));
        await AgentClient.ReadyAsync(services);
        var client = services.GetRequiredService<IHttpClientFactory>().CreateClient(AgentClient.Name);

        var ex = await Assert.ThrowsAsync<PeerRejectedException>(() => client.GetAsync("/whoami"));

        Assert.Contains("not the expected 'spiffe://example.org/svc/other'", ex.Message, StringComparison.Ordinal);
        var options = services.GetRequiredService<IOptionsMonitor<AgentHttpClientOptions>>().Get(AgentClient.Name);
        Assert.True(options.AllowTlsResume);
        Assert.True(options.AllowUnsafeMethodRetries);
    }

    [Fact]
    public async Task AddAgentIdentity_ConfigurationWithUnknownKey_FailsNamingTheKey()
    {
        using var pki = TestPki.OnFakeClock();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Erp:ServerIdd"] = EchoId }).Build();
        await using var services = AgentClient.Build(pki, new Uri("https://127.0.0.1:1"), b => b.AddAgentIdentity(configuration.GetSection("Erp")));

        var ex = Assert.Throws<InvalidOperationException>(() => services.GetRequiredService<IOptionsMonitor<AgentHttpClientOptions>>().Get(AgentClient.Name));

        Assert.Contains("not found on the instance of AgentIdentity.AgentHttpClientOptions: 'ServerIdd'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddAgentIdentity_InvalidServerId_FailsValidationWithReason()
    {
        using var pki = TestPki.OnFakeClock();
        await using var services = AgentClient.Build(pki, new Uri("https://127.0.0.1:1"), b => b.AddAgentIdentity(o => o.ServerId = "https://erp.example"));

        var ex = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptionsMonitor<AgentHttpClientOptions>>().Get(AgentClient.Name));

        Assert.Contains("ServerId", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'https://erp.example'", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://as.example/", null, "ClientId is required")]
    [InlineData("http://as.example/", "planner", "must be an absolute https URI")]
    public async Task AddAgentIdentity_InvalidTokenOptions_FailsValidationWithReason(string authority, string? clientId, string expected)
    {
        using var pki = TestPki.OnFakeClock();
        await using var services = AgentClient.Build(pki, new Uri("https://127.0.0.1:1"), b => b.AddAgentIdentity(o =>
        {
            o.Token.Authority = new Uri(authority);
            o.Token.ClientId = clientId;
        }));

        var ex = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptionsMonitor<AgentHttpClientOptions>>().Get(AgentClient.Name));

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddAgentIdentity_ConfigurationSection_BindsTokenAndTimeSettings()
    {
        using var pki = TestPki.OnFakeClock();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Erp:AgentName"] = "planner",
            ["Erp:PooledConnectionLifetime"] = "00:01:30",
            ["Erp:DrainTimeout"] = "00:00:00",
            ["Erp:SendAttributionHeaders"] = "false",
            ["Erp:UseWebPkiServerValidation"] = "true",
            ["Erp:Token:Authority"] = "https://as.example/",
            ["Erp:Token:ClientId"] = "planner",
            ["Erp:Token:Scope"] = "invoices:read",
            ["Erp:Token:Audience"] = "spiffe://example.org/svc/erp",
            ["Erp:Token:ServerId"] = "spiffe://example.org/svc/*",
            ["Erp:Token:AuthenticationMethod"] = "SelfSignedTlsClientAuth",
            ["Erp:Token:AcceptOpaqueTokensFromBindingServers"] = "false",
            ["Erp:Token:RequestTimeout"] = "00:00:05",
        }).Build();
        await using var services = AgentClient.Build(pki, new Uri("https://127.0.0.1:1"), b => b.AddAgentIdentity(configuration.GetSection("Erp")));

        var options = services.GetRequiredService<IOptionsMonitor<AgentHttpClientOptions>>().Get(AgentClient.Name);

        Assert.Equal("planner", options.AgentName);
        Assert.Equal(TimeSpan.FromSeconds(90), options.PooledConnectionLifetime);
        Assert.Equal(TimeSpan.Zero, options.DrainTimeout);
        Assert.False(options.SendAttributionHeaders);
        Assert.True(options.UseWebPkiServerValidation);
        Assert.Equal(new Uri("https://as.example/"), options.Token.Authority);
        Assert.Equal("planner", options.Token.ClientId);
        Assert.Equal("invoices:read", options.Token.Scope);
        Assert.Equal("spiffe://example.org/svc/erp", options.Token.Audience);
        Assert.Equal("spiffe://example.org/svc/*", options.Token.ServerId);
        Assert.Equal(TlsClientAuthenticationMethod.SelfSignedTlsClientAuth, options.Token.AuthenticationMethod);
        Assert.False(options.Token.AcceptOpaqueTokensFromBindingServers);
        Assert.Equal(TimeSpan.FromSeconds(5), options.Token.RequestTimeout);
    }

    [Theory]
    [InlineData("Erp:Token:RequestTimeout", "soon", typeof(InvalidOperationException), "'soon' at 'Erp:Token:RequestTimeout'")]
    [InlineData("Erp:AllowTlsResume", "maybe", typeof(InvalidOperationException), "'maybe' at 'Erp:AllowTlsResume'")]
    [InlineData("Erp:PooledConnectionLifetime", "00:00:00", typeof(OptionsValidationException), "erp.PooledConnectionLifetime must be positive; it is 00:00:00.")]
    [InlineData("Erp:DrainTimeout", "-00:00:01", typeof(OptionsValidationException), "erp.DrainTimeout must be zero or positive; it is -00:00:01.")]
    [InlineData("Erp:AgentName", "bad/name", typeof(OptionsValidationException), "erp.AgentName 'bad/name' is invalid")]
    public async Task AddAgentIdentity_ConfigurationWithBadValue_FailsNamingTheKeyOrOption(string key, string value, Type exceptionType, string expected)
    {
        using var pki = TestPki.OnFakeClock();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [key] = value }).Build();
        await using var services = AgentClient.Build(pki, new Uri("https://127.0.0.1:1"), b => b.AddAgentIdentity(configuration.GetSection("Erp")));

        var ex = Assert.ThrowsAny<Exception>(() => services.GetRequiredService<IOptionsMonitor<AgentHttpClientOptions>>().Get(AgentClient.Name));

        Assert.IsType(exceptionType, ex);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StandardResilience_UnsafeMethodsDisabled_RetriesGetButNotPost()
    {
        using var pki = TestPki.OnFakeClock();
        var attempts = new ConcurrentDictionary<string, int>();
        await using var server = await MtlsTestServer.StartAsync(pki, configureApp: app =>
        {
            app.MapMethods("/flaky", ["GET", "POST"], (HttpContext context) =>
                attempts.AddOrUpdate(context.Request.Method, 1, (_, n) => n + 1) == 1 ? Results.StatusCode(503) : Results.Text("ok"));
        });
        await using var services = AgentClient.Build(pki, server.BaseAddress, b => b
            .AddAgentIdentity(o => o.ServerId = EchoId)
            .AddStandardResilienceHandler(o =>
            {
                o.Retry.Delay = TimeSpan.Zero;
                o.Retry.DisableForUnsafeHttpMethods();
            }));
        await AgentClient.ReadyAsync(services);
        var client = services.GetRequiredService<IHttpClientFactory>().CreateClient(AgentClient.Name);

        using var get = await client.GetAsync("/flaky");
        using var post = await client.PostAsync("/flaky", new StringContent("x"));

        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, post.StatusCode);
        Assert.Equal(2, attempts["GET"]);
        Assert.Equal(1, attempts["POST"]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task StandardResilience_DefaultRetry_UnsafeMethodNeverSentTwiceUnlessAllowed(bool allowUnsafeRetries)
    {
        using var pki = TestPki.OnFakeClock();
        var attempts = new ConcurrentDictionary<string, int>();
        await using var server = await MtlsTestServer.StartAsync(pki, configureApp: app =>
        {
            app.MapMethods("/flaky", ["GET", "POST"], (HttpContext context) =>
                attempts.AddOrUpdate(context.Request.Method, 1, (_, n) => n + 1) == 1 ? Results.StatusCode(503) : Results.Text("ok"));
        });

        // The standard handler as most applications add it: it retries 503 for every method.
        await using var services = AgentClient.Build(pki, server.BaseAddress, b => b
            .AddAgentIdentity(o =>
            {
                o.ServerId = EchoId;
                o.AllowUnsafeMethodRetries = allowUnsafeRetries;
            })
            .AddStandardResilienceHandler(o => o.Retry.Delay = TimeSpan.Zero));
        await AgentClient.ReadyAsync(services);
        var client = services.GetRequiredService<IHttpClientFactory>().CreateClient(AgentClient.Name);

        using var get = await client.GetAsync("/flaky");
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(2, attempts["GET"]);

        if (allowUnsafeRetries)
        {
            using var post = await client.PostAsync("/flaky", new StringContent("x"));
            Assert.Equal(HttpStatusCode.OK, post.StatusCode);
            Assert.Equal(2, attempts["POST"]);
        }
        else
        {
            var ex = await Assert.ThrowsAsync<UnsafeRetryRefusedException>(() => client.PostAsync("/flaky", new StringContent("x")));
            Assert.Equal(HttpMethod.Post, ex.Method);
            Assert.Equal("HTTP 503 Service Unavailable", ex.FirstAttempt);
            Assert.Contains("DisableForUnsafeHttpMethods()", ex.Message, StringComparison.Ordinal);
            Assert.Equal(1, attempts["POST"]);
        }
    }
}
