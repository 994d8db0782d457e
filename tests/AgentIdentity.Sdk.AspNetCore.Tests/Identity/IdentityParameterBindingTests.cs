using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.AspNetCore.Tests.Identity;

/// <summary><see cref="SpiffeId"/> and <see cref="TrustDomain"/> as minimal-API parameters (query string, JSON body) on real Kestrel.</summary>
#pragma warning disable CA1001 // disposed in DisposeAsync (IAsyncLifetime)
public sealed class IdentityParameterBindingTests : IAsyncLifetime
#pragma warning restore CA1001
{
    private WebApplication _app = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _app = builder.Build();
        _app.MapGet("/agents", (SpiffeId id, TrustDomain td) => $"{id.Path} in {id.TrustDomain} (asked for {td}, same: {id.TrustDomain == td})");
        _app.MapPost("/grants", (Grant grant) => Results.Json(grant with { Agent = SpiffeId.Parse($"{grant.Agent}/task/t1") }));
        await _app.StartAsync();
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        _http = new HttpClient { BaseAddress = new Uri(address) };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _app.DisposeAsync();
    }

    [Fact]
    public async Task QueryParameters_BindThroughTryParse()
    {
        var text = await _http.GetStringAsync(new Uri($"/agents?id={Uri.EscapeDataString("spiffe://corp.example/agent/planner/1")}&td=corp.example", UriKind.Relative));

        Assert.Equal("/agent/planner/1 in corp.example (asked for corp.example, same: True)", text);
    }

    [Theory]
    [InlineData("/agents?id=spiffe%3A%2F%2FCORP.example%2Fa&td=corp.example")]
    [InlineData("/agents?id=spiffe%3A%2F%2Fcorp.example%2Fa&td=corp%20example")]
    public async Task MalformedQueryParameter_Is400AndTheHandlerDoesNotRun(string path)
    {
        using var response = await _http.GetAsync(new Uri(path, UriKind.Relative));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task JsonBody_RoundTripsIdsAsStrings()
    {
        using var response = await _http.PostAsync(new Uri("/grants", UriKind.Relative),
            new StringContent("""{"agent":"spiffe://corp.example/agent/planner/1","domain":"corp.example"}""", System.Text.Encoding.UTF8, "application/json"));

        response.EnsureSuccessStatusCode();
        Assert.Equal("""{"agent":"spiffe://corp.example/agent/planner/1/task/t1","domain":"corp.example"}""", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task JsonBody_MalformedId_Is400()
    {
        using var response = await _http.PostAsJsonAsync(new Uri("/grants", UriKind.Relative), new { agent = "https://corp.example/x", domain = "corp.example" });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    public sealed record Grant(SpiffeId Agent, TrustDomain Domain);
}
