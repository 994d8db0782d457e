using System.Collections.Concurrent;
using System.Data.Common;

namespace AgentIdentity.Issuer;

/// <content>
/// Group commit: the issuance writes (join token created, token redeemed with its enrollment, renewal and delegation recorded)
/// of concurrent callers are coalesced into one write transaction, so that one durable commit (one fsync with SQLite's
/// <c>synchronous=FULL</c>) covers all of them. A write that fails (a token already redeemed, a unique violation) is rolled
/// back alone and told its own error; the others commit: the batch runs first without savepoints (the common case, fewer
/// statements under the write lock) and, when one of its writes does not keep what it wrote, runs again from the start with a
/// savepoint per write. Every caller is acknowledged
/// only after the transaction holding its write has committed; if the commit fails, every write of the batch fails and
/// nothing of it was written. There is no timer: a batch is what queued up while the previous one was committing, so a lone
/// caller pays no extra latency.
/// </content>
internal abstract partial class SqlIssuerStore
{
    /// <summary>The most writes one transaction carries.</summary>
    internal const int MaxBatchSize = 64;

    private const string Savepoint = "ai_write";

    private readonly ConcurrentQueue<PendingWrite> _pendingWrites = new();
    private int _draining;
    private long _committedBatches;

    /// <summary>Gets or sets a value indicating whether concurrent writes are coalesced into one transaction. On by default for
    /// SQLite, whose single writer would otherwise queue them one fsync at a time; off for PostgreSQL (see <c>docs/issuer.md</c>).
    /// Settable for the benchmark that compares both.</summary>
    internal bool UsesGroupCommit { get; set; }

    /// <summary>Gets the number of write transactions the group committer has committed (for tests and diagnostics).</summary>
    internal long CommittedBatches => Interlocked.Read(ref _committedBatches);

    /// <summary>Gets or sets a task the group committer awaits before it takes the next batch (tests: hold the writer so that
    /// the writes they start land in one batch).</summary>
    internal Task WriterGate { get; set; } = Task.CompletedTask;

    /// <summary>
    /// Runs <paramref name="write"/> in a write transaction and returns its result once that transaction has committed. The write
    /// returns whether to keep what it wrote; a write that returns <c>Keep = false</c> or throws is undone (alone, in a batch).
    /// </summary>
    private protected Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, CancellationToken, Task<(T Result, bool Keep)>> write, CancellationToken cancellationToken)
    {
        if (!UsesGroupCommit)
        {
            return RunAsync(async connection =>
            {
                using var transaction = await BeginWriteTransactionAsync(connection, cancellationToken).ConfigureAwait(false);
                var (result, keep) = await write(connection, transaction, cancellationToken).ConfigureAwait(false);
                if (keep)
                {
                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
                }

                return result;
            }, cancellationToken);
        }

        cancellationToken.ThrowIfCancellationRequested();
        var pending = new PendingWrite<T>(write, cancellationToken);
        _pendingWrites.Enqueue(pending);
        if (Interlocked.CompareExchange(ref _draining, 1, 0) == 0)
        {
            _ = Task.Run(DrainAsync, CancellationToken.None);
        }

        return pending.Task;
    }

    /// <summary>Commits batches until the queue is empty. One drainer at a time (<see cref="_draining"/>).</summary>
    private async Task DrainAsync()
    {
        while (true)
        {
            await WriterGate.ConfigureAwait(false);
            var batch = new List<PendingWrite>();
            while (batch.Count < MaxBatchSize && _pendingWrites.TryDequeue(out var pending))
            {
                if (!pending.TryCancel())
                {
                    batch.Add(pending);
                }
            }

            if (batch.Count == 0)
            {
                Volatile.Write(ref _draining, 0);

                // A write enqueued after the last TryDequeue but before the flag was cleared saw a drainer running: take it over.
                if (_pendingWrites.IsEmpty || Interlocked.CompareExchange(ref _draining, 1, 0) != 0)
                {
                    return;
                }

                continue;
            }

            await CommitBatchAsync(batch).ConfigureAwait(false);
        }
    }

    private async Task CommitBatchAsync(List<PendingWrite> batch)
    {
        try
        {
            using var connection = await OpenConnectionAsync(CancellationToken.None).ConfigureAwait(false);
            var savepoints = false;
            while (true)
            {
                // Writes nearly always keep what they wrote, so the batch first runs without a savepoint per write (two statements
                // fewer each, while the one write lock is held). A write that does not keep it (a token already used) or fails
                // undoes the whole transaction; then the batch runs again with a savepoint each, so that it is undone alone. A
                // batch of one is decided by its first run.
                using var transaction = await BeginWriteTransactionAsync(connection, CancellationToken.None).ConfigureAwait(false);
                var undone = false;
                foreach (var pending in batch)
                {
                    pending.Failed = null;
                    if (savepoints)
                    {
                        await transaction.SaveAsync(Savepoint).ConfigureAwait(false);
                    }

                    bool keep;
                    try
                    {
                        keep = await pending.RunAsync(connection, transaction).ConfigureAwait(false);
                    }
                    catch (Exception ex)
                    {
                        pending.Failed = ex;
                        keep = false;
                    }

                    if (!savepoints)
                    {
                        if (!keep)
                        {
                            undone = true;
                            break;
                        }

                        continue;
                    }

                    // A failure of the rollback itself (the database aborted the whole transaction) fails the batch below.
                    if (!keep)
                    {
                        await transaction.RollbackAsync(Savepoint).ConfigureAwait(false);
                    }

                    await transaction.ReleaseAsync(Savepoint).ConfigureAwait(false);
                }

                if (!undone)
                {
                    await transaction.CommitAsync(CancellationToken.None).ConfigureAwait(false);
                    Interlocked.Increment(ref _committedBatches);
                    break;
                }

                await transaction.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
                if (batch.Count == 1)
                {
                    break;
                }

                savepoints = true;
            }
        }
        catch (Exception ex)
        {
            var failure = ex is DbException or InvalidOperationException or TimeoutException or System.Net.Sockets.SocketException
                ? new IssuerStoreUnavailableException($"The issuer's {ProviderName} database failed or is unreachable ({ex.Message}); nothing was written.", ex)
                : ex;
            foreach (var pending in batch)
            {
                pending.Fail(failure);
            }

            return;
        }

        foreach (var pending in batch)
        {
            if (pending.Failed is { } error)
            {
                pending.Fail(error is DbException or InvalidOperationException or TimeoutException
                    ? new IssuerStoreUnavailableException($"The issuer's {ProviderName} database refused the write ({error.Message}); nothing of it was written.", error)
                    : error);
            }
            else
            {
                pending.Complete();
            }
        }
    }

    private abstract class PendingWrite
    {
        public Exception? Failed { get; set; }

        public abstract bool TryCancel();

        public abstract Task<bool> RunAsync(DbConnection connection, DbTransaction transaction);

        public abstract void Complete();

        public abstract void Fail(Exception exception);
    }

    private sealed class PendingWrite<T>(Func<DbConnection, DbTransaction, CancellationToken, Task<(T Result, bool Keep)>> write, CancellationToken cancellationToken) : PendingWrite
    {
        private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private T _result = default!;

        public Task<T> Task => _completion.Task;

        /// <summary>A caller that gave up before its write was taken into a batch is not written.</summary>
        public override bool TryCancel() => cancellationToken.IsCancellationRequested && _completion.TrySetCanceled(cancellationToken);

        public override async Task<bool> RunAsync(DbConnection connection, DbTransaction transaction)
        {
            // The batch belongs to every caller in it: one caller's cancellation does not abort the others' transaction.
            var (result, keep) = await write(connection, transaction, CancellationToken.None).ConfigureAwait(false);
            _result = result;
            return keep;
        }

        public override void Complete() => _completion.TrySetResult(_result);

        public override void Fail(Exception exception) => _completion.TrySetException(exception);
    }
}
