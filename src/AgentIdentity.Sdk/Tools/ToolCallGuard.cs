using System.Collections;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.Json;
using AgentIdentity.Audit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.Tools;

/// <summary>
/// The per-call checks shared by the tool-call integrations (Semantic Kernel filters, Microsoft.Extensions.AI and Agent Framework
/// middleware), bound to one agent identity: the kill switch (identity unavailable, expired or revoked), the certificate's
/// (effective) tool and action allow-lists intersected with an optional local policy, the <see cref="AgentCallContext"/> the tool
/// runs in, and one audit event per call.
/// </summary>
/// <remarks>
/// Create one guard per agent identity; several guards (one per agent) may run concurrently in one process, and each call sees only
/// its own guard's identity because the context flows with the call's asynchronous control flow. Thread-safe.
/// </remarks>
public sealed class ToolCallGuard
{
    private readonly ToolCallGuardOptions _options;
    private readonly TimeProvider _time;
    private readonly KeyValuePair<string, string>[] _toolActions;
    private SpiffeId _lastKnownId;
    private ChainCache? _chainCache;

    /// <summary>Initializes a new instance of the <see cref="ToolCallGuard"/> class.</summary>
    /// <param name="identity">The agent's identity (an <see cref="AgentCredential"/>, or any <see cref="IX509SvidSource"/>).</param>
    /// <param name="options">The options; copied. <see langword="null"/> for the defaults (fail closed, no audit sink).</param>
    /// <param name="timeProvider">The clock; <see langword="null"/> for <see cref="TimeProvider.System"/>.</param>
    public ToolCallGuard(IX509SvidSource identity, ToolCallGuardOptions? options = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(identity);
        Identity = identity;
        _options = options?.Clone() ?? new ToolCallGuardOptions();
        _time = timeProvider ?? TimeProvider.System;
        _toolActions = [.. _options.ToolActions];
        _lastKnownId = identity switch
        {
            AgentCredential credential => credential.Id,
            X509Svid svid => svid.Id,
            _ => default,
        };
    }

    /// <summary>
    /// Creates a guard with the defaults every framework integration uses (the Semantic Kernel filters, the Microsoft.Extensions.AI
    /// and Agent Framework middleware), so that they cannot differ: the options <paramref name="configure"/> sets, and for each one
    /// it leaves unset the registered <see cref="IAuditSink"/> (else a <see cref="LoggingAuditSink"/> over the registered
    /// <see cref="ILoggerFactory"/>, category <c>AgentIdentity.Audit</c>, when it records that category at Information; else it refuses), the registered <see cref="IRevocationStatus"/>
    /// (else none), and structured arguments formatted as JSON with <paramref name="argumentJsonOptions"/>. The clock is the
    /// registered <see cref="TimeProvider"/>, else <see cref="TimeProvider.System"/>.
    /// </summary>
    /// <param name="services">The services to take the defaults from; <see langword="null"/> for none.</param>
    /// <param name="identity">The agent's identity.</param>
    /// <param name="configure">Configures the guard; may be <see langword="null"/>.</param>
    /// <param name="argumentJsonOptions">The JSON options that structured argument values are serialized with before hashing
    /// (the integrations pass <c>AIJsonUtilities.DefaultOptions</c>); <see langword="null"/> for <see cref="object.ToString"/>.
    /// A value they cannot serialize falls back to <see cref="object.ToString"/>.</param>
    /// <returns>The guard.</returns>
    /// <exception cref="InvalidOperationException">No audit sink is set or registered and no registered logger records audit
    /// events: a default that records nothing does not exist.</exception>
    public static ToolCallGuard Create(IServiceProvider? services, IX509SvidSource identity, Action<ToolCallGuardOptions>? configure = null, JsonSerializerOptions? argumentJsonOptions = null)
    {
        ArgumentNullException.ThrowIfNull(identity);
        var options = new ToolCallGuardOptions();
        configure?.Invoke(options);
        options.AuditSink ??= services?.GetService<IAuditSink>() ?? CreateLoggingSink(services) ?? throw new InvalidOperationException(NoAuditSinkMessage);
        options.RevocationStatus ??= services?.GetService<IRevocationStatus>();
        options.ArgumentKey ??= services?.GetService<AuditArgumentKey>();
        if (argumentJsonOptions is not null)
        {
            options.ArgumentFormatter ??= value => FormatAsJson(value, argumentJsonOptions);
        }

        return new ToolCallGuard(identity, options, services?.GetService<TimeProvider>());
    }

    /// <summary>The refusal of <see cref="Create"/> when the audit trail would go nowhere.</summary>
    internal const string NoAuditSinkMessage =
        "The AgentIdentity tool-call guard has nowhere to write its audit trail: ToolCallGuardOptions.AuditSink is not set, the services "
        + "have no IAuditSink, and no logger records category 'AgentIdentity.Audit' at Information (a kernel from Kernel.CreateBuilder() has no logging). "
        + "Tool calls would leave no record, so the guard refuses to start. Set o.AuditSink (for example the application's: "
        + "o => o.AuditSink = app.Services.GetRequiredService<IAuditSink>()), register an IAuditSink in these services (services.AddAuditLog(...)), "
        + "or add logging to them (kernelBuilder.Services.AddLogging(l => l.AddConsole())).";

    /// <summary>Gets the identity the guard is bound to.</summary>
    public IX509SvidSource Identity { get; }

    /// <summary>Gets a copy of the options the guard runs with.</summary>
    public ToolCallGuardOptions Options => _options.Clone();

    /// <summary>Gets a value indicating whether a kill-switch refusal should end the model's function-calling loop.</summary>
    public bool TerminateOnKillSwitch => _options.TerminateOnKillSwitch;

    internal ToolCallGuardOptions RawOptions => _options;

    /// <summary>Finds the action a tool declared in <see cref="ToolCallGuardOptions.ToolActions"/>.</summary>
    /// <param name="toolName">The tool name in policy form.</param>
    /// <returns>The action, or <see langword="null"/>.</returns>
    public string? GetConfiguredAction(string toolName)
    {
        ArgumentNullException.ThrowIfNull(toolName);
        foreach (var (tool, action) in _toolActions)
        {
            if (string.Equals(tool, toolName, StringComparison.Ordinal))
            {
                return action;
            }
        }

        return null;
    }

    /// <summary>Checks a call without running anything and without writing audit: the kill switch, then the policies.</summary>
    /// <param name="call">The call.</param>
    /// <param name="svid">The SVID the call would run with, when the identity is available.</param>
    /// <returns>The outcome; <see cref="ToolCallOutcome.WasInvoked"/> is <see langword="true"/> when the call would be allowed.</returns>
    public ToolCallOutcome Authorize(ToolCall call, out X509Svid? svid)
    {
        ArgumentNullException.ThrowIfNull(call);
        var (denial, reason) = Check(call, _time.GetUtcNow(), out svid);
        return new ToolCallOutcome(denial, reason, svid?.Id ?? _lastKnownId);
    }

    /// <summary>
    /// Runs one tool call under the guard: refuses it (without calling <paramref name="invoke"/>) when the kill switch trips or a
    /// policy denies it; otherwise makes an <see cref="AgentCallContext"/> current while <paramref name="invoke"/> runs. Either way
    /// one audit event records the call (start time, outcome, duration, argument hashes).
    /// </summary>
    /// <typeparam name="TState">State passed to <paramref name="invoke"/>, so that callers need no closure.</typeparam>
    /// <param name="call">The call.</param>
    /// <param name="state">The state.</param>
    /// <param name="invoke">Runs the tool (and the rest of the pipeline).</param>
    /// <param name="cancellationToken">Cancels the audit append.</param>
    /// <returns>What happened. A refusal is a value, not an exception; exceptions of the tool propagate after they are audited.</returns>
    /// <exception cref="Exception">Whatever <paramref name="invoke"/> or the audit sink throws.</exception>
    public async ValueTask<ToolCallOutcome> InvokeAsync<TState>(ToolCall call, TState state, Func<TState, ValueTask> invoke, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(call);
        ArgumentNullException.ThrowIfNull(invoke);
        using var activity = StartActivity(call);
        var startedAt = _time.GetUtcNow();
        var started = _time.GetTimestamp();
        var (denial, reason) = Check(call, startedAt, out var svid);
        if (activity is { IsAllDataRequested: true })
        {
            TagIdentity(activity, svid);
        }

        if (denial != ToolCallDenialKind.None)
        {
            if (activity is not null)
            {
                var kind = ToolCallAttributes.DenialName(denial);
                activity.SetTag(TelemetryTags.PolicyDecision, "denied");
                activity.SetTag(TelemetryTags.ToolOutcome, "denied");
                activity.SetTag(TelemetryTags.DenialKind, kind);
                activity.SetTag(TelemetryTags.DenialReason, reason);
                activity.SetTag(TelemetryTags.ErrorType, kind);
                activity.SetStatus(ActivityStatusCode.Error, reason);
            }

            await AuditAsync(call, svid, startedAt, started, denial, reason, cancellationToken).ConfigureAwait(false);
            return new ToolCallOutcome(denial, reason, svid?.Id ?? _lastKnownId);
        }

        activity?.SetTag(TelemetryTags.PolicyDecision, "allowed");

        var outer = AgentCallContext.Current;
        var context = new AgentCallContext
        {
            AgentId = svid!.Id,
            Svid = svid,
            ToolName = call.ToolName,
            PluginName = call.PluginName,
            FunctionName = call.FunctionName,
            ToolCallId = call.ToolCallId,
            ToolCallSequence = call.Sequence,
            TaskId = svid.Policy?.TaskId ?? outer?.TaskId,
            ConversationId = call.ConversationId ?? outer?.ConversationId,
            DelegationChain = svid.DelegationChain,
        };
        using (AgentCallContext.Begin(context))
        {
            try
            {
                await invoke(state).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                if (activity is not null)
                {
                    activity.SetTag(TelemetryTags.ToolOutcome, "failed");
                    activity.SetFailure(ex);
                }

                var failure = ex is OperationCanceledException ? "the call was canceled" : $"the tool threw {ex.GetType().FullName}";
                await AuditAsync(call, svid, startedAt, started, ToolCallDenialKind.None, failure, CancellationToken.None).ConfigureAwait(false);
                throw;
            }
        }

        activity?.SetTag(TelemetryTags.ToolOutcome, "allowed");
        await AuditAsync(call, svid, startedAt, started, ToolCallDenialKind.None, null, cancellationToken).ConfigureAwait(false);
        return new ToolCallOutcome(ToolCallDenialKind.None, null, svid.Id);
    }

    /// <summary>The span of one tool call, as the OpenTelemetry GenAI conventions name it (<c>execute_tool {gen_ai.tool.name}</c>).
    /// Arguments are never recorded: the audit event carries their hashes.</summary>
    private static Activity? StartActivity(ToolCall call)
    {
        var activity = AgentIdentityTelemetry.Source.StartActivity($"{AgentIdentityTelemetry.ToolOperation} {call.ToolName}");
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag(TelemetryTags.GenAiOperationName, AgentIdentityTelemetry.ToolOperation);
            activity.SetTag(TelemetryTags.GenAiToolName, call.ToolName);
            activity.SetTag(TelemetryTags.GenAiToolType, "function");
            if (call.ToolCallId is { } callId)
            {
                activity.SetTag(TelemetryTags.GenAiToolCallId, callId);
            }

            if (call.ConversationId is { } conversation)
            {
                activity.SetTag(TelemetryTags.GenAiConversationId, conversation);
            }

            if (call.Action is { } action)
            {
                activity.SetTag(TelemetryTags.ToolAction, action);
            }
        }

        return activity;
    }

    private void TagIdentity(Activity activity, X509Svid? svid)
    {
        if (svid is null)
        {
            if (!_lastKnownId.IsEmpty)
            {
                activity.SetTag(TelemetryTags.AgentId, _lastKnownId.ToString());
            }

            return;
        }

        activity.SetSvid(svid);
        if (svid.Policy?.TaskId is { } taskId)
        {
            activity.SetTag(TelemetryTags.TaskId, taskId);
        }
    }

    private (ToolCallDenialKind Denial, string? Reason) Check(ToolCall call, DateTimeOffset now, out X509Svid? svid)
    {
        try
        {
            svid = Identity.GetCurrent();
        }
        catch (Exception ex) when (ex is IdentityUnavailableException or ObjectDisposedException)
        {
            // The whole family: IdentityRevokedException (the credential's own kill switch tripped) is an IdentityUnavailableException.
            svid = null;
            var who = _lastKnownId.IsEmpty ? "the agent" : $"agent '{_lastKnownId}'";
            return ex switch
            {
                IdentityRevokedException => (ToolCallDenialKind.IdentityRevoked, $"the identity of {who} is revoked ({ex.Message})"),
                ObjectDisposedException => (ToolCallDenialKind.IdentityUnavailable, $"the credential of {who} is disposed"),
                _ => (ToolCallDenialKind.IdentityUnavailable, $"{who} has no valid identity ({ex.Message})"),
            };
        }

        _lastKnownId = svid.Id;
        if (svid.IsExpired(now))
        {
            return (ToolCallDenialKind.IdentityUnavailable, $"the X.509-SVID of agent '{svid.Id}' expired at {svid.NotAfter.ToString("O", CultureInfo.InvariantCulture)}");
        }

        if (_options.RevocationStatus is { } revocation)
        {
            bool revoked;
            string? why;
            try
            {
                revoked = revocation.IsRevoked(svid, out why);
            }
            catch (Exception ex)
            {
                // Fail closed: a revocation source that cannot answer must not let calls through.
                revoked = true;
                why = $"the revocation status of '{svid.Id}' could not be determined ({ex.GetType().Name})";
            }

            if (revoked)
            {
                return (ToolCallDenialKind.IdentityRevoked, why ?? $"the X.509-SVID of agent '{svid.Id}' is revoked");
            }
        }

        var policy = svid.EffectivePolicy;
        if (policy is null)
        {
            if (!_options.AllowWithoutCertificatePolicy)
            {
                return (ToolCallDenialKind.NoCertificatePolicy, $"the certificate of agent '{svid.Id}' carries no policy, so it may call no tool (issue it with a policy that lists its tools)");
            }
        }
        else
        {
            var scope = svid.DelegationChain is null ? "its certificate's" : "its effective (delegated)";
            if (!policy.AllowsTool(call.ToolName))
            {
                return (ToolCallDenialKind.ToolNotAllowed, $"agent '{svid.Id}' may not call tool '{call.ToolName}': it is not in {scope} tool allow-list");
            }

            if (call.Action is { } action && !policy.AllowsAction(action))
            {
                return (ToolCallDenialKind.ActionNotAllowed, $"agent '{svid.Id}' may not perform action '{action}' (tool '{call.ToolName}'): it is not in {scope} action allow-list");
            }
        }

        if (_options.LocalPolicy is { } local)
        {
            AuthorizationDecision result;
            try
            {
                result = local(svid, call);
            }
            catch (Exception ex)
            {
                result = AuthorizationDecision.Denied($"the local policy failed ({ex.GetType().Name})");
            }

            if (!result.IsAllowed)
            {
                return (ToolCallDenialKind.LocalPolicy, $"the local policy refused tool '{call.ToolName}' for agent '{svid.Id}': {result.Reason ?? "no reason given"}");
            }
        }

        return (ToolCallDenialKind.None, null);
    }

    private ValueTask AuditAsync(ToolCall call, X509Svid? svid, DateTimeOffset startedAt, long started, ToolCallDenialKind denial, string? reason, CancellationToken cancellationToken)
    {
        if (_options.AuditSink is not { } sink)
        {
            return ValueTask.CompletedTask;
        }

        var agent = svid?.Id ?? _lastKnownId;
        if (agent.IsEmpty)
        {
            // No identity was ever seen: there is no actor to attribute the event to. The integrations log the refusal.
            return ValueTask.CompletedTask;
        }

        var policyDenial = denial is ToolCallDenialKind.NoCertificatePolicy or ToolCallDenialKind.ToolNotAllowed
            or ToolCallDenialKind.ActionNotAllowed or ToolCallDenialKind.LocalPolicy;
        var auditEvent = new AuditEvent
        {
            Kind = policyDenial ? AuditEventKind.PolicyDenial : AuditEventKind.ToolCall,
            Timestamp = startedAt,
            Agent = agent,
            SerialNumber = svid?.SerialNumber,
            DelegationChain = GetChainIds(svid),
            Tool = call.ToolName,
            Action = call.Action,
            RequestId = call.ToolCallId,
            Outcome = denial != ToolCallDenialKind.None ? AuditOutcome.Denied : reason is null ? AuditOutcome.Success : AuditOutcome.Failure,
            Reason = reason,
            Arguments = HashArguments(call.Arguments),
            Attributes = new ToolCallAttributes(_time.GetElapsedTime(started).Ticks / TimeSpan.TicksPerMicrosecond, call.Sequence, call.Iteration, denial),
        };
        return sink.AppendAsync(auditEvent, cancellationToken);
    }

    private SpiffeId[] GetChainIds(X509Svid? svid)
    {
        if (svid?.DelegationChain is not { } chain)
        {
            return [];
        }

        var cache = Volatile.Read(ref _chainCache);
        if (cache is not null && ReferenceEquals(cache.Chain, chain))
        {
            return cache.Ids;
        }

        var ids = new SpiffeId[chain.Count];
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = chain[i].Id;
        }

        Volatile.Write(ref _chainCache, new ChainCache(chain, ids));
        return ids;
    }

    private AuditArgument[] HashArguments(IEnumerable<KeyValuePair<string, object?>>? arguments)
    {
        if (arguments is null || (arguments.TryGetNonEnumeratedCount(out var count) && count == 0))
        {
            return [];
        }

        var result = new AuditArgument[count > 0 ? count : 4];
        var n = 0;
        foreach (var (name, value) in arguments)
        {
            if (string.IsNullOrEmpty(name))
            {
                continue;
            }

            if (n == result.Length)
            {
                Array.Resize(ref result, n * 2);
            }

            var text = FormatArgument(value, _options.ArgumentFormatter);
            result[n++] = _options.ArgumentKey is { } key
                ? AuditArgument.Create(name, text, key, _options.RecordArgumentValues)
                : AuditArgument.Create(name, text, _options.RecordArgumentValues);
        }

        if (n != result.Length)
        {
            Array.Resize(ref result, n);
        }

        return result;
    }

    /// <summary>Formats an argument value as the text that is hashed into the audit event.</summary>
    /// <param name="value">The value.</param>
    /// <param name="formatter">Formats structured values; <see langword="null"/> for <see cref="object.ToString"/>.</param>
    /// <returns>The text; empty for <see langword="null"/>.</returns>
    internal static string FormatArgument(object? value, Func<object, string?>? formatter) => value switch
    {
        null => string.Empty,
        string s => s,
        bool b => b ? "true" : "false",
        JsonElement element => element.GetRawText(),
        IFormattable formattable when value.GetType().IsPrimitive || value is decimal or DateTimeOffset or DateTime or Guid =>
            formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => formatter?.Invoke(value) ?? value.ToString() ?? string.Empty,
    };

    /// <summary>A <see cref="LoggingAuditSink"/> over the registered logging, only when that logging records audit events.</summary>
    private static LoggingAuditSink? CreateLoggingSink(IServiceProvider? services)
    {
        var logger = services?.GetService<ILoggerFactory>()?.CreateLogger("AgentIdentity.Audit");
        return logger is not null && logger.IsEnabled(LogLevel.Information) ? new LoggingAuditSink(logger) : null;
    }

    private static string? FormatAsJson(object value, JsonSerializerOptions options)
    {
        try
        {
            return JsonSerializer.Serialize(value, options.GetTypeInfo(value.GetType()));
        }
        catch (Exception ex) when (ex is NotSupportedException or InvalidOperationException or JsonException)
        {
            return value.ToString();
        }
    }

    private sealed record ChainCache(DelegationChain Chain, SpiffeId[] Ids);

    /// <summary>The audit attributes of a tool call, formatted only when read (the audit log serializes them; the in-memory sink may never).</summary>
    private sealed class ToolCallAttributes(long durationMicroseconds, int? sequence, int? iteration, ToolCallDenialKind denial) : IReadOnlyDictionary<string, string>
    {
        private const string DurationKey = "duration_us";
        private const string SequenceKey = "tool_call_sequence";
        private const string IterationKey = "tool_call_iteration";
        private const string DenialKey = "denial";

        public int Count => 1 + (sequence.HasValue ? 1 : 0) + (iteration.HasValue ? 1 : 0) + (denial != ToolCallDenialKind.None ? 1 : 0);

        public IEnumerable<string> Keys => this.Select(p => p.Key);

        public IEnumerable<string> Values => this.Select(p => p.Value);

        public string this[string key] => TryGetValue(key, out var value) ? value : throw new KeyNotFoundException($"No audit attribute '{key}'.");

        public bool ContainsKey(string key) => TryGetValue(key, out _);

        public bool TryGetValue(string key, [MaybeNullWhen(false)] out string value)
        {
            value = key switch
            {
                DurationKey => durationMicroseconds.ToString(CultureInfo.InvariantCulture),
                SequenceKey when sequence.HasValue => sequence.Value.ToString(CultureInfo.InvariantCulture),
                IterationKey when iteration.HasValue => iteration.Value.ToString(CultureInfo.InvariantCulture),
                DenialKey when denial != ToolCallDenialKind.None => DenialName(denial),
                _ => null,
            };
            return value is not null;
        }

        public IEnumerator<KeyValuePair<string, string>> GetEnumerator()
        {
            yield return new(DurationKey, durationMicroseconds.ToString(CultureInfo.InvariantCulture));
            if (sequence.HasValue)
            {
                yield return new(SequenceKey, sequence.Value.ToString(CultureInfo.InvariantCulture));
            }

            if (iteration.HasValue)
            {
                yield return new(IterationKey, iteration.Value.ToString(CultureInfo.InvariantCulture));
            }

            if (denial != ToolCallDenialKind.None)
            {
                yield return new(DenialKey, DenialName(denial));
            }
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        internal static string DenialName(ToolCallDenialKind denial) => denial switch
        {
            ToolCallDenialKind.IdentityUnavailable => "identity_unavailable",
            ToolCallDenialKind.IdentityRevoked => "identity_revoked",
            ToolCallDenialKind.NoCertificatePolicy => "no_certificate_policy",
            ToolCallDenialKind.ToolNotAllowed => "tool_not_allowed",
            ToolCallDenialKind.ActionNotAllowed => "action_not_allowed",
            ToolCallDenialKind.LocalPolicy => "local_policy",
            _ => "none",
        };
    }
}
