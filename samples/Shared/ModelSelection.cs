// Used by samples/Quickstart: choose the scripted model (default) or a real OpenAI-compatible model from environment variables.
using System.ClientModel;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;
using OpenAI;

/// <summary>
/// Which model a sample talks to. With none of the <c>AGENTIDENTITY_MODEL*</c> variables set, the scripted model (offline, no key).
/// With <see cref="ModelVariable"/> set, an OpenAI-compatible chat-completions endpoint through <c>Microsoft.Extensions.AI.OpenAI</c>:
/// OpenAI itself by default, or any base URL in <see cref="EndpointVariable"/> (Azure OpenAI v1, Ollama, LM Studio, vLLM...).
/// A partial or bad configuration throws <see cref="ModelConfigurationException"/> naming the variable; the key is never echoed.
/// </summary>
internal sealed partial class ModelSelection
{
    /// <summary>The model id (OpenAI model, Azure deployment name, Ollama tag). Setting it turns the real model on.</summary>
    public const string ModelVariable = "AGENTIDENTITY_MODEL";

    /// <summary>The OpenAI-compatible base URL, e.g. <c>http://localhost:11434/v1</c>; default <see cref="OpenAIEndpoint"/>.</summary>
    public const string EndpointVariable = "AGENTIDENTITY_MODEL_ENDPOINT";

    /// <summary>The API key, sent as a bearer token to the endpoint.</summary>
    public const string ApiKeyVariable = "AGENTIDENTITY_MODEL_API_KEY";

    /// <summary>The conventional OpenAI key; used only for OpenAI's own endpoint, never sent to another host.</summary>
    public const string OpenAIApiKeyVariable = "OPENAI_API_KEY";

    /// <summary>OpenAI's endpoint, used when <see cref="EndpointVariable"/> is not set.</summary>
    public static readonly Uri OpenAIEndpoint = new("https://api.openai.com/v1");

    private readonly string? _apiKey;

    private ModelSelection(string description, string? modelId = null, Uri? endpoint = null, string? apiKey = null, string? apiKeySource = null)
    {
        Description = description;
        ModelId = modelId;
        Endpoint = endpoint;
        _apiKey = apiKey;
        ApiKeySource = apiKeySource;
    }

    /// <summary>Gets a value indicating whether the scripted model was chosen.</summary>
    public bool IsScripted => ModelId is null;

    /// <summary>Gets one line to print: which model, where, and how to switch. Never contains the key.</summary>
    public string Description { get; }

    /// <summary>Gets the real model's id, or <see langword="null"/> for the scripted model.</summary>
    public string? ModelId { get; }

    /// <summary>Gets the real model's endpoint, or <see langword="null"/> for the scripted model.</summary>
    public Uri? Endpoint { get; }

    /// <summary>Gets the variable the key came from, or <see langword="null"/> when no key is sent (scripted, or a local server).</summary>
    public string? ApiKeySource { get; }

    /// <summary>Reads the process environment.</summary>
    public static ModelSelection FromEnvironment() => FromEnvironment(Environment.GetEnvironmentVariable);

    /// <summary>Chooses the model from the variables that <paramref name="getVariable"/> returns (blank counts as not set).</summary>
    /// <exception cref="ModelConfigurationException">The variables ask for a real model but cannot configure one.</exception>
    public static ModelSelection FromEnvironment(Func<string, string?> getVariable)
    {
        ArgumentNullException.ThrowIfNull(getVariable);
        string? Read(string name) => getVariable(name) is { } value && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;

        var model = Read(ModelVariable);
        var endpointText = Read(EndpointVariable);
        var ownKey = Read(ApiKeyVariable);
        var openAIKey = Read(OpenAIApiKeyVariable);

        if (model is null)
        {
            if (endpointText is not null || ownKey is not null)
            {
                var set = endpointText is not null ? EndpointVariable : ApiKeyVariable;
                throw new ModelConfigurationException(
                    $"{set} is set but {ModelVariable} is not: set {ModelVariable} to the model to use (for example gpt-4o-mini, an Azure " +
                    $"deployment name, or an Ollama tag such as llama3.1), or unset {set} to run with the scripted model.");
            }

            return new ModelSelection(openAIKey is null
                ? $"model: scripted, offline (set {ModelVariable} to use a real one; see docs/semantic-kernel.md)"
                : $"model: scripted, offline ({OpenAIApiKeyVariable} is set but not used: set {ModelVariable}, e.g. gpt-4o-mini, to use a real model)");
        }

        if (model.Any(char.IsControl))
        {
            throw new ModelConfigurationException($"{ModelVariable} contains control characters: set it to a plain model id such as gpt-4o-mini.");
        }

        var endpoint = endpointText is null ? OpenAIEndpoint : ParseEndpoint(endpointText);
        var isOpenAI = endpoint.IdnHost.Equals(OpenAIEndpoint.IdnHost, StringComparison.OrdinalIgnoreCase);
        var isLocal = IsLoopback(endpoint);

        if (endpoint.Scheme == Uri.UriSchemeHttp && !isLocal)
        {
            throw new ModelConfigurationException(
                $"{EndpointVariable} uses http:// for a host that is not this machine ({endpoint.IdnHost}): the API key and the prompts would " +
                $"cross the network in cleartext. Use https://, or http:// only for a server on localhost, 127.0.0.1 or [::1].");
        }

        // The conventional OpenAI key goes to OpenAI only: a custom endpoint must be given its own key explicitly.
        var (key, keySource) = ownKey is not null ? (ownKey, ApiKeyVariable)
            : openAIKey is not null && isOpenAI ? (openAIKey, OpenAIApiKeyVariable)
            : ((string?)null, (string?)null);

        if (key is null && !isLocal)
        {
            var hint = endpointText is null
                ? $"set {ApiKeyVariable} (or {OpenAIApiKeyVariable}) to your OpenAI key, or set {EndpointVariable} to a local OpenAI-compatible " +
                  "server such as http://localhost:11434/v1 (Ollama), which needs no key"
                : $"set {ApiKeyVariable} to the key for {endpoint.IdnHost}" +
                  (openAIKey is not null ? $" ({OpenAIApiKeyVariable} is only ever sent to {OpenAIEndpoint.IdnHost})" : string.Empty);
            throw new ModelConfigurationException($"{ModelVariable} is set to '{model}' but no API key is configured for {Show(endpoint)}: {hint}.");
        }

        if (key is not null && (key.Any(char.IsWhiteSpace) || key.Any(char.IsControl)))
        {
            throw new ModelConfigurationException(
                $"{keySource} contains whitespace or control characters (a line break from a file or a pasted quote?): set it to the key alone. " +
                "The value is not shown.");
        }

        var via = key is null ? "no key (local server)" : $"key from {keySource}";
        return new ModelSelection($"model: {model} at {Show(endpoint)} (real, {via})", model, endpoint, key, keySource);
    }

    /// <summary>Creates the chat client: <paramref name="scripted"/>'s for the scripted model, else an OpenAI-compatible one.</summary>
    /// <remarks>No request is sent until the client is used.</remarks>
    public IChatClient CreateChatClient(Func<IChatClient> scripted)
    {
        ArgumentNullException.ThrowIfNull(scripted);
        if (IsScripted)
        {
            return scripted();
        }

        // A local server ignores the key, but the client needs a non-empty credential.
        var client = new OpenAIClient(new ApiKeyCredential(_apiKey ?? "no-key"), new OpenAIClientOptions { Endpoint = Endpoint });
        return client.GetChatClient(ModelId).AsIChatClient();
    }

    /// <summary>Removes the key (and anything shaped like an OpenAI key) from a message before it is shown, e.g. an HTTP 401 body.</summary>
    public string Redact(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (_apiKey is not null)
        {
            message = message.Replace(_apiKey, "[key]", StringComparison.Ordinal);
        }

        return KeyShape().Replace(message, "sk-[redacted]");
    }

    private static Uri ParseEndpoint(string text)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var endpoint) || (endpoint.Scheme != Uri.UriSchemeHttps && endpoint.Scheme != Uri.UriSchemeHttp))
        {
            throw new ModelConfigurationException(
                $"{EndpointVariable} must be an absolute http(s) URL, the OpenAI-compatible base URL that /chat/completions is appended to: " +
                "for example https://api.openai.com/v1, https://<resource>.openai.azure.com/openai/v1/ or http://localhost:11434/v1.");
        }

        if (!string.IsNullOrEmpty(endpoint.UserInfo))
        {
            throw new ModelConfigurationException(
                $"{EndpointVariable} contains credentials before the host (user:password@): put the key in {ApiKeyVariable} instead. The URL is not shown.");
        }

        if (!string.IsNullOrEmpty(endpoint.Query) || !string.IsNullOrEmpty(endpoint.Fragment))
        {
            throw new ModelConfigurationException(
                $"{EndpointVariable} must not have a query or fragment (such as ?api-version=...): give the base URL only, for Azure OpenAI the " +
                "v1 endpoint https://<resource>.openai.azure.com/openai/v1/.");
        }

        return endpoint;
    }

    private static bool IsLoopback(Uri endpoint) =>
        endpoint.IsLoopback || (IPAddress.TryParse(endpoint.IdnHost, out var address) && IPAddress.IsLoopback(address));

    private static string Show(Uri endpoint) => endpoint.GetLeftPart(UriPartial.Path);

    [GeneratedRegex(@"\bsk-[A-Za-z0-9_\-\*]{6,}")]
    private static partial Regex KeyShape();
}

/// <summary>The environment asks for a real model but does not configure one completely or correctly.</summary>
internal sealed class ModelConfigurationException : Exception
{
    public ModelConfigurationException()
    {
    }

    public ModelConfigurationException(string message)
        : base(message)
    {
    }

    public ModelConfigurationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
