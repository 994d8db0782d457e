using AgentIdentity.Samples.Tests.TestInfrastructure;
using Microsoft.Extensions.AI;

namespace AgentIdentity.Samples.Tests.SharedSamples;

public sealed class ModelSelectionTests
{
    private const string Key = "sk-test-SECRET-0123456789abcdef";

    [Fact]
    public void FromEnvironment_NothingSet_ChoosesScriptedModel()
    {
        var selection = ModelSelection.FromEnvironment(Environment([]));

        Assert.True(selection.IsScripted);
        Assert.Null(selection.ModelId);
        Assert.Null(selection.Endpoint);
        Assert.Contains("scripted", selection.Description, StringComparison.Ordinal);
        Assert.Contains(ModelSelection.ModelVariable, selection.Description, StringComparison.Ordinal);
        using var scripted = new NoModel();
        Assert.Same(scripted, selection.CreateChatClient(() => scripted));
    }

    [Fact]
    public void FromEnvironment_BlankVariables_CountAsNotSet()
    {
        var selection = ModelSelection.FromEnvironment(Environment(new()
        {
            [ModelSelection.ModelVariable] = "  ",
            [ModelSelection.EndpointVariable] = "",
            [ModelSelection.ApiKeyVariable] = "\t",
        }));

        Assert.True(selection.IsScripted);
    }

    [Fact]
    public void FromEnvironment_OnlyOpenAIKeySet_StaysScriptedAndSaysHowToSwitch()
    {
        var selection = ModelSelection.FromEnvironment(Environment(new() { [ModelSelection.OpenAIApiKeyVariable] = Key }));

        Assert.True(selection.IsScripted);
        Assert.Contains($"{ModelSelection.OpenAIApiKeyVariable} is set but not used", selection.Description, StringComparison.Ordinal);
        Assert.DoesNotContain(Key, selection.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void FromEnvironment_ModelAndKey_CreatesOpenAIClientForOpenAI()
    {
        var selection = ModelSelection.FromEnvironment(Environment(new()
        {
            [ModelSelection.ModelVariable] = "gpt-4o-mini",
            [ModelSelection.ApiKeyVariable] = Key,
        }));

        Assert.False(selection.IsScripted);
        Assert.Equal(ModelSelection.ApiKeyVariable, selection.ApiKeySource);
        Assert.Equal("model: gpt-4o-mini at https://api.openai.com/v1 (real, key from AGENTIDENTITY_MODEL_API_KEY)", selection.Description);
        using var client = selection.CreateChatClient(() => throw new InvalidOperationException("the scripted model must not be created"));
        var metadata = client.GetService<ChatClientMetadata>();
        Assert.NotNull(metadata);
        Assert.Equal("openai", metadata.ProviderName);
        Assert.Equal(new Uri("https://api.openai.com/v1"), metadata.ProviderUri);
        Assert.Equal("gpt-4o-mini", metadata.DefaultModelId);
    }

    [Fact]
    public async Task CreateChatClient_CustomEndpoint_ClientTargetsItAndSendsNothingUntilUsed()
    {
        await using var server = await FakeOpenAIServer.StartAsync();
        var selection = ModelSelection.FromEnvironment(Environment(new()
        {
            [ModelSelection.ModelVariable] = "llama3.1",
            [ModelSelection.EndpointVariable] = server.BaseAddress.ToString(),
        }));

        using var client = selection.CreateChatClient(() => throw new InvalidOperationException("the scripted model must not be created"));
        var metadata = client.GetService<ChatClientMetadata>();

        Assert.Null(selection.ApiKeySource);
        Assert.Contains("no key (local server)", selection.Description, StringComparison.Ordinal);
        Assert.Equal(server.BaseAddress, metadata?.ProviderUri);
        Assert.Equal("llama3.1", metadata?.DefaultModelId);
        Assert.Empty(server.Requests);

        // The same client does reach the endpoint once used: the emptiness above is not an artefact of a dead server.
        var response = await client.GetResponseAsync("hello").WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal("I will not call any tool.", response.Text);
        var request = Assert.Single(server.Requests);
        Assert.Equal("/v1/chat/completions", request.Path);
    }

    [Fact]
    public async Task FromEnvironment_KeyWithTrailingLineBreak_IsTrimmedBeforeUse()
    {
        await using var server = await FakeOpenAIServer.StartAsync();
        var selection = ModelSelection.FromEnvironment(Environment(new()
        {
            [ModelSelection.ModelVariable] = " fake-model ",
            [ModelSelection.EndpointVariable] = server.BaseAddress + "\n",
            [ModelSelection.ApiKeyVariable] = Key + "\r\n",
        }));
        using var client = selection.CreateChatClient(() => throw new InvalidOperationException("the scripted model must not be created"));

        await client.GetResponseAsync("hello").WaitAsync(TimeSpan.FromSeconds(60));

        var request = Assert.Single(server.Requests);
        Assert.Equal($"Bearer {Key}", request.Authorization);
        Assert.Equal("fake-model", request.Body["model"]?.ToString());
    }

    [Fact]
    public void FromEnvironment_OpenAIKeyAndDefaultEndpoint_UsesOpenAIKey()
    {
        var selection = ModelSelection.FromEnvironment(Environment(new()
        {
            [ModelSelection.ModelVariable] = "gpt-4o-mini",
            [ModelSelection.OpenAIApiKeyVariable] = Key,
        }));

        Assert.Equal(ModelSelection.OpenAIApiKeyVariable, selection.ApiKeySource);
        Assert.DoesNotContain(Key, selection.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void FromEnvironment_OwnKeyAndOpenAIKey_OwnKeyWins()
    {
        var selection = ModelSelection.FromEnvironment(Environment(new()
        {
            [ModelSelection.ModelVariable] = "gpt-4o-mini",
            [ModelSelection.ApiKeyVariable] = Key,
            [ModelSelection.OpenAIApiKeyVariable] = "sk-other-0123456789",
        }));

        Assert.Equal(ModelSelection.ApiKeyVariable, selection.ApiKeySource);
    }

    [Fact]
    public void FromEnvironment_AzureOpenAIV1Endpoint_KeepsEndpointAndDeploymentName()
    {
        var selection = ModelSelection.FromEnvironment(Environment(new()
        {
            [ModelSelection.ModelVariable] = "my-gpt4o-deployment",
            [ModelSelection.EndpointVariable] = "https://contoso.openai.azure.com/openai/v1/",
            [ModelSelection.ApiKeyVariable] = Key,
        }));

        using var client = selection.CreateChatClient(() => throw new InvalidOperationException("the scripted model must not be created"));
        var metadata = client.GetService<ChatClientMetadata>();

        Assert.Equal(new Uri("https://contoso.openai.azure.com/openai/v1/"), selection.Endpoint);
        Assert.Equal(new Uri("https://contoso.openai.azure.com/openai/v1/"), metadata?.ProviderUri);
        Assert.Equal("my-gpt4o-deployment", metadata?.DefaultModelId);
    }

    [Theory]
    [InlineData("http://localhost:11434/v1")]
    [InlineData("http://127.0.0.1:1234/v1")]
    [InlineData("http://[::1]:8000/v1")]
    public void FromEnvironment_LoopbackHttpEndpointWithoutKey_IsAccepted(string endpoint)
    {
        var selection = ModelSelection.FromEnvironment(Environment(new()
        {
            [ModelSelection.ModelVariable] = "llama3.1",
            [ModelSelection.EndpointVariable] = endpoint,
        }));

        Assert.Equal(new Uri(endpoint), selection.Endpoint);
        Assert.Null(selection.ApiKeySource);
    }

    public static TheoryData<string, string?, string?, string?, string?, string> BadConfigurations => new()
    {
        // model, endpoint, own key, OPENAI_API_KEY, expected fragment of the message
        { "endpoint without model", null, "https://api.example.com/v1", Key, null, "AGENTIDENTITY_MODEL_ENDPOINT is set but AGENTIDENTITY_MODEL is not" },
        { "key without model", null, null, Key, null, "AGENTIDENTITY_MODEL_API_KEY is set but AGENTIDENTITY_MODEL is not" },
        { "model without key for OpenAI", "gpt-4o-mini", null, null, null, "set AGENTIDENTITY_MODEL_API_KEY (or OPENAI_API_KEY)" },
        { "OpenAI key is not sent to another host", "gpt-4o-mini", "https://api.example.com/v1", null, Key, "OPENAI_API_KEY is only ever sent to api.openai.com" },
        { "model without key for a remote endpoint", "gpt-4o-mini", "https://api.example.com/v1", null, null, "set AGENTIDENTITY_MODEL_API_KEY to the key for api.example.com" },
        { "relative endpoint", "gpt-4o-mini", "api.openai.com/v1", Key, null, "AGENTIDENTITY_MODEL_ENDPOINT must be an absolute http(s) URL" },
        { "not a URL", "gpt-4o-mini", "not a url", Key, null, "AGENTIDENTITY_MODEL_ENDPOINT must be an absolute http(s) URL" },
        { "wrong scheme", "gpt-4o-mini", "ftp://models.example.com/v1", Key, null, "AGENTIDENTITY_MODEL_ENDPOINT must be an absolute http(s) URL" },
        { "credentials in the URL", "gpt-4o-mini", $"https://user:{Key}@api.example.com/v1", Key, null, "AGENTIDENTITY_MODEL_ENDPOINT contains credentials" },
        { "query in the URL", "gpt-4o-mini", "https://contoso.openai.azure.com/openai/deployments/x?api-version=2024-10-21", Key, null, "AGENTIDENTITY_MODEL_ENDPOINT must not have a query" },
        { "cleartext to a remote host", "gpt-4o-mini", "http://models.example.com/v1", Key, null, "AGENTIDENTITY_MODEL_ENDPOINT uses http:// for a host that is not this machine" },
        { "two keys on two lines", "gpt-4o-mini", null, Key + "\r\n" + Key, null, "AGENTIDENTITY_MODEL_API_KEY contains whitespace or control characters" },
        { "key with a space", "gpt-4o-mini", null, "sk-test SECRET-0123456789abcdef", null, "AGENTIDENTITY_MODEL_API_KEY contains whitespace or control characters" },
        { "model with a control character", "gpt-4o\u0007", null, Key, null, "AGENTIDENTITY_MODEL contains control characters" },
    };

    [Theory]
    [MemberData(nameof(BadConfigurations))]
    public void FromEnvironment_BadConfiguration_ThrowsSpecificMessageWithoutTheKey(string scenario, string? model, string? endpoint, string? key, string? openAIKey, string expected)
    {
        var variables = new Dictionary<string, string?>
        {
            [ModelSelection.ModelVariable] = model,
            [ModelSelection.EndpointVariable] = endpoint,
            [ModelSelection.ApiKeyVariable] = key,
            [ModelSelection.OpenAIApiKeyVariable] = openAIKey,
        };

        var error = Assert.Throws<ModelConfigurationException>(() => ModelSelection.FromEnvironment(Environment(variables)));

        Assert.True(error.Message.Contains(expected, StringComparison.Ordinal), $"{scenario}: '{error.Message}' does not contain '{expected}'");
        Assert.DoesNotContain("SECRET", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Redact_MessageWithKeyAndKeyShapes_RemovesBoth()
    {
        var selection = ModelSelection.FromEnvironment(Environment(new()
        {
            [ModelSelection.ModelVariable] = "local",
            [ModelSelection.EndpointVariable] = "http://localhost:8080/v1",
            [ModelSelection.ApiKeyVariable] = "plain-local-key-123",
        }));

        var redacted = selection.Redact("Incorrect API key provided: plain-local-key-123 (also sk-proj-abc***********wxyz).");

        Assert.Equal("Incorrect API key provided: [key] (also sk-[redacted]).", redacted);
    }

    private static Func<string, string?> Environment(Dictionary<string, string?> variables) =>
        name => variables.GetValueOrDefault(name);

    /// <summary>Stands in for the scripted model; never called.</summary>
    private sealed class NoModel : IChatClient
    {
        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}
