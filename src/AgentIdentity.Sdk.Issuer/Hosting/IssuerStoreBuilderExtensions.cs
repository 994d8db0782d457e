using AgentIdentity.Issuer;
using Microsoft.Data.Sqlite;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Chooses the store of the AgentIdentity issuer (<c>services.AddAgentIdentityIssuer().UseSqlite(...)</c>).</summary>
public static class AgentIdentityIssuerStoreExtensions
{
    /// <summary>Stores the issuer's state in one SQLite file (WAL journal, <c>BEGIN IMMEDIATE</c> write transactions, 30 s busy
    /// timeout): for one issuer process. This is the default; without a store call the issuer uses the file
    /// <c>agent-identity-issuer.db</c> in the working directory.</summary>
    /// <param name="builder">The issuer builder.</param>
    /// <param name="pathOrConnectionString">The database file (created if missing), for example <c>/var/lib/orchestrator/issuer.db</c>,
    /// or a Microsoft.Data.Sqlite connection string with a file <c>Data Source</c>.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentException">The value is empty, or names an in-memory database (not durable, and each
    /// connection would see a different one).</exception>
    /// <remarks>Calling it again with the same value changes nothing. An issuer uses one store: choosing a different one as
    /// well (<see cref="UsePostgreSql"/>, or <c>UseSqlite</c> with another file) fails when the issuer is resolved at start-up.</remarks>
    public static IAgentIdentityIssuerBuilder UseSqlite(this IAgentIdentityIssuerBuilder builder, string pathOrConnectionString)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(pathOrConnectionString);
        var connectionString = SqliteIssuerStore.ToConnectionString(pathOrConnectionString);
        return Choose(builder, new IssuerStoreChoice(nameof(UseSqlite), connectionString, () => new SqliteIssuerStore(connectionString)));
    }

    /// <summary>Stores the issuer's state in a PostgreSQL database that several issuer replicas share (READ COMMITTED
    /// transactions; the redeem <c>UPDATE</c> row lock serialises racing replicas; the tables are created on first start).</summary>
    /// <param name="builder">The issuer builder.</param>
    /// <param name="connectionString">The Npgsql connection string, for example <c>Host=db;Database=issuer;Username=issuer</c>.
    /// Bind it from a secret store; it is never logged or put in an exception message.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentException">The connection string is empty or malformed.</exception>
    /// <remarks>Calling it again with the same value changes nothing. An issuer uses one store: choosing a different one as
    /// well fails when the issuer is resolved at start-up.</remarks>
    public static IAgentIdentityIssuerBuilder UsePostgreSql(this IAgentIdentityIssuerBuilder builder, string connectionString)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        PostgreSqlIssuerStore.ValidateConnectionString(connectionString);
        return Choose(builder, new IssuerStoreChoice(nameof(UsePostgreSql), connectionString, () => new PostgreSqlIssuerStore(connectionString)));
    }

    private static IAgentIdentityIssuerBuilder Choose(IAgentIdentityIssuerBuilder builder, IssuerStoreChoice choice)
    {
        builder.Services.AddSingleton(choice);
        return builder;
    }
}

/// <summary>A store chosen with <c>UseSqlite</c> or <c>UsePostgreSql</c>; every call adds one, the issuer's store is made from them.</summary>
internal sealed class IssuerStoreChoice(string method, string argument, Func<IIssuerStore> factory)
{
    /// <summary>The SQLite file used when no store is chosen (documented as the single-node default).</summary>
    public const string DefaultSqlitePath = "agent-identity-issuer.db";

    public string Method { get; } = method;

    /// <summary>Gets the path or connection string; never logged (a connection string may carry a password).</summary>
    public string Argument { get; } = argument;

    public Func<IIssuerStore> Factory { get; } = factory;

    public static IIssuerStore CreateStore(IEnumerable<IssuerStoreChoice> choices)
    {
        var distinct = choices.DistinctBy(c => (c.Method, c.Argument)).ToList();
        if (distinct.Count > 1)
        {
            // The arguments are not named: a PostgreSQL connection string may carry a password.
            throw new InvalidOperationException(
                $"The AgentIdentity issuer's store was chosen {distinct.Count} times differently ({string.Join(", ", distinct.Select(c => c.Method + "(...)"))}); " +
                "an issuer uses one store: call UseSqlite(...) or UsePostgreSql(...) once.");
        }

        return distinct.Count == 1 ? distinct[0].Factory() : new SqliteIssuerStore(SqliteIssuerStore.ToConnectionString(DefaultSqlitePath));
    }
}
