using System.Diagnostics;
using AgentIdentity.IntegrationTests.Infrastructure;
using AgentIdentity.Tools;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace AgentIdentity.IntegrationTests.Diagnostics;

/// <summary>What the spans must never carry: the access token and the tool's argument values, read as an attacker with access to the
/// tracing backend would. Real OpenIddict authorization server and resource server on Kestrel, RFC 8705 bound tokens.</summary>
[Collection(ActivityListenerTests.Name)]
public sealed class TelemetrySecretsTests
{
    [Fact]
    public async Task ToolCallWithBoundToken_NoSpanAttributeEventOrStatusCarriesTheTokenOrTheArguments()
    {
        var exported = new List<Activity>();
        using var tracing = Sdk.CreateTracerProviderBuilder()
            .AddSource(AgentIdentityMetrics.ActivitySourceName)
            .AddHttpClientInstrumentation()
            .AddAspNetCoreInstrumentation()
            .AddInMemoryExporter(exported)
            .Build()!;
        await using var deployment = await BoundTokenDeployment.StartAsync(TimeSpan.FromMinutes(10));
        var secretArgument = "argument-" + Guid.NewGuid().ToString("N");
        var guard = new ToolCallGuard(deployment.Credential!, new ToolCallGuardOptions { AllowWithoutCertificatePolicy = true }, deployment.Pki.Time);
        var call = new ToolCall
        {
            ToolName = "Erp.WhoAmI",
            FunctionName = "WhoAmI",
            ToolCallId = "call_secret",
            Arguments = [new("invoice", secretArgument), new("note", new { text = secretArgument })],
        };

        var outcome = await guard.InvokeAsync(call, deployment.Client, async client =>
        {
            using var response = await client.GetAsync(new Uri("/api/whoami", UriKind.Relative));
            response.EnsureSuccessStatusCode();
        });
        var token = await deployment.Services.GetRequiredService<AgentAccessTokens>().GetAccessTokenAsync(AgentClient.Name);
        tracing.ForceFlush();

        Assert.True(outcome.WasInvoked);
        Assert.True(token.Length > 40);
        List<Activity> spans;
        lock (exported)
        {
            spans = [.. exported];
        }

        var tool = Assert.Single(spans, a => a.DisplayName == "execute_tool Erp.WhoAmI");
        var trace = spans.Where(a => a.TraceId == tool.TraceId).ToList();
        Assert.Contains(trace, a => a.OperationName == "agentidentity.token.acquire"); // the token request is part of the tool call's trace
        Assert.Contains(trace, a => a.Kind == ActivityKind.Server);
        foreach (var span in spans)
        {
            foreach (var text in Texts(span))
            {
                Assert.DoesNotContain(token, text, StringComparison.Ordinal);
                Assert.DoesNotContain(token.Split('.')[2], text, StringComparison.Ordinal); // not even the signature part
                Assert.DoesNotContain(secretArgument, text, StringComparison.Ordinal);
            }
        }
    }

    private static IEnumerable<string> Texts(Activity span)
    {
        yield return span.DisplayName;
        yield return span.StatusDescription ?? string.Empty;
        foreach (var tag in span.TagObjects)
        {
            yield return Text(tag.Value);
        }

        foreach (var e in span.Events)
        {
            yield return e.Name;
            foreach (var tag in e.Tags)
            {
                yield return Text(tag.Value);
            }
        }

        foreach (var baggage in span.Baggage)
        {
            yield return baggage.Value ?? string.Empty;
        }
    }

    private static string Text(object? value) => value switch
    {
        null => string.Empty,
        string s => s,
        System.Collections.IEnumerable items => string.Join("|", items.Cast<object?>()),
        _ => value.ToString() ?? string.Empty,
    };
}

/// <summary>Tests that listen to the process-wide "AgentIdentity" ActivitySource run alone: spans of tests running in parallel would
/// land in their exporters.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ActivityListenerTests
{
    /// <summary>The collection's name.</summary>
    public const string Name = "ActivityListener";
}
