using System.Numerics;
using System.Security.Cryptography;

namespace AgentIdentity.Audit;

/// <summary>
/// RFC 9162 (RFC 6962 §2.1) Merkle tree hashing with SHA-256: leaf hashes, node hashes, tree heads, and inclusion and
/// consistency proofs (generation and verification).
/// </summary>
/// <remarks>
/// Leaf hash = SHA-256(0x00 ‖ leaf), node hash = SHA-256(0x01 ‖ left ‖ right), the empty tree hashes to SHA-256("").
/// Proof generation works over the leaf hashes of the tree in O(n); verification is O(log n). Thread-safe (stateless).
/// </remarks>
public static class MerkleTree
{
    /// <summary>The size of every hash in the tree, in bytes.</summary>
    public const int HashSize = 32;

    /// <summary>Gets the root hash of the empty tree: SHA-256 of the empty string.</summary>
    /// <returns>A new 32-byte array.</returns>
    public static byte[] GetEmptyRootHash() => SHA256.HashData(ReadOnlySpan<byte>.Empty);

    /// <summary>Computes the RFC 6962 leaf hash SHA-256(0x00 ‖ <paramref name="leaf"/>).</summary>
    /// <param name="leaf">The leaf bytes (for audit logs, the canonical JSON of an event).</param>
    /// <returns>A new 32-byte array.</returns>
    public static byte[] HashLeaf(ReadOnlySpan<byte> leaf)
    {
        var hash = new byte[HashSize];
        HashLeaf(leaf, hash);
        return hash;
    }

    /// <summary>Computes the RFC 6962 leaf hash into <paramref name="destination"/>.</summary>
    /// <param name="leaf">The leaf bytes.</param>
    /// <param name="destination">At least 32 bytes.</param>
    public static void HashLeaf(ReadOnlySpan<byte> leaf, Span<byte> destination)
    {
        // One-shot hashing of 0x00 ‖ leaf: far cheaper than an incremental hash context per leaf.
        if (leaf.Length < 1024)
        {
            Span<byte> buffer = stackalloc byte[leaf.Length + 1];
            buffer[0] = 0x00;
            leaf.CopyTo(buffer[1..]);
            SHA256.HashData(buffer, destination);
            return;
        }

        var rented = System.Buffers.ArrayPool<byte>.Shared.Rent(leaf.Length + 1);
        try
        {
            rented[0] = 0x00;
            leaf.CopyTo(rented.AsSpan(1));
            SHA256.HashData(rented.AsSpan(0, leaf.Length + 1), destination);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Computes the RFC 6962 node hash SHA-256(0x01 ‖ <paramref name="left"/> ‖ <paramref name="right"/>).</summary>
    /// <param name="left">The left child hash (32 bytes).</param>
    /// <param name="right">The right child hash (32 bytes).</param>
    /// <returns>A new 32-byte array.</returns>
    public static byte[] HashChildren(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        var hash = new byte[HashSize];
        HashChildren(left, right, hash);
        return hash;
    }

    /// <summary>Computes the RFC 6962 node hash into <paramref name="destination"/> (which may overlap either input).</summary>
    /// <param name="left">The left child hash (32 bytes).</param>
    /// <param name="right">The right child hash (32 bytes).</param>
    /// <param name="destination">At least 32 bytes.</param>
    public static void HashChildren(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right, Span<byte> destination)
    {
        CheckHash(left, nameof(left));
        CheckHash(right, nameof(right));
        Span<byte> buffer = stackalloc byte[1 + (2 * HashSize)];
        buffer[0] = 0x01;
        left.CopyTo(buffer[1..]);
        right.CopyTo(buffer[(1 + HashSize)..]);
        SHA256.HashData(buffer, destination);
    }

    /// <summary>Computes the root hash MTH(D[0:<paramref name="size"/>]) from leaf hashes.</summary>
    /// <param name="leafHashes">The leaf hashes, at least <paramref name="size"/> of them.</param>
    /// <param name="size">The tree size.</param>
    /// <returns>The root hash.</returns>
    public static byte[] ComputeRoot(IReadOnlyList<byte[]> leafHashes, long size)
    {
        ArgumentNullException.ThrowIfNull(leafHashes);
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(size, leafHashes.Count);
        return size == 0 ? GetEmptyRootHash() : SubtreeHash(leafHashes, 0, size);
    }

    /// <summary>Creates the inclusion proof (RFC 6962 <c>PATH</c>) of leaf <paramref name="index"/> in the tree of size <paramref name="size"/>.</summary>
    /// <param name="leafHashes">The leaf hashes, at least <paramref name="size"/> of them.</param>
    /// <param name="index">The leaf index, below <paramref name="size"/>.</param>
    /// <param name="size">The tree size.</param>
    /// <returns>The audit path, from the leaf's sibling up.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> or <paramref name="size"/> is out of range.</exception>
    public static IReadOnlyList<byte[]> CreateInclusionProof(IReadOnlyList<byte[]> leafHashes, long index, long size)
    {
        ArgumentNullException.ThrowIfNull(leafHashes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(size, leafHashes.Count);
        if (index < 0 || index >= size)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"Leaf index must be in [0, {size}).");
        }

        var path = new List<byte[]>();
        InclusionPath(leafHashes, index, 0, size, path);
        return path;
    }

    /// <summary>Creates the consistency proof (RFC 6962 <c>PROOF</c>) between tree sizes <paramref name="oldSize"/> and <paramref name="newSize"/>.</summary>
    /// <param name="leafHashes">The leaf hashes, at least <paramref name="newSize"/> of them.</param>
    /// <param name="oldSize">The earlier tree size, 1 ≤ oldSize ≤ newSize.</param>
    /// <param name="newSize">The later tree size.</param>
    /// <returns>The proof nodes; empty when the sizes are equal.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The sizes are out of range.</exception>
    public static IReadOnlyList<byte[]> CreateConsistencyProof(IReadOnlyList<byte[]> leafHashes, long oldSize, long newSize)
    {
        ArgumentNullException.ThrowIfNull(leafHashes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(newSize, leafHashes.Count);
        if (oldSize < 0 || oldSize > newSize)
        {
            throw new ArgumentOutOfRangeException(nameof(oldSize), oldSize, $"The earlier size must be in [0, {newSize}].");
        }

        if (oldSize == 0)
        {
            return []; // every tree extends the empty tree: the proof is empty (RFC 9162 verifiers, transparency-dev)
        }

        var proof = new List<byte[]>();
        SubProof(leafHashes, oldSize, 0, newSize, true, proof);
        return proof;
    }

    /// <summary>Verifies an inclusion proof (RFC 9162 §2.1.3.2).</summary>
    /// <param name="index">The leaf index.</param>
    /// <param name="size">The tree size.</param>
    /// <param name="leafHash">The leaf hash.</param>
    /// <param name="proof">The audit path.</param>
    /// <param name="rootHash">The expected root hash of the tree of size <paramref name="size"/>.</param>
    /// <returns><see langword="true"/> when the proof shows the leaf at <paramref name="index"/> in the tree with <paramref name="rootHash"/>.</returns>
    public static bool VerifyInclusion(long index, long size, ReadOnlySpan<byte> leafHash, IReadOnlyList<byte[]> proof, ReadOnlySpan<byte> rootHash)
    {
        ArgumentNullException.ThrowIfNull(proof);
        if (index < 0 || index >= size || leafHash.Length != HashSize || rootHash.Length != HashSize)
        {
            return false;
        }

        // Reject a proof of the wrong length early (as transparency-dev does).
        var inner = 64 - BitOperations.LeadingZeroCount((ulong)(index ^ (size - 1)));
        var border = BitOperations.PopCount((ulong)index >> inner);
        if (proof.Count != inner + border)
        {
            return false;
        }

        var fn = index;
        var sn = size - 1;
        Span<byte> r = stackalloc byte[HashSize];
        leafHash.CopyTo(r);
        foreach (var p in proof)
        {
            if (p is null || p.Length != HashSize || sn == 0)
            {
                return false;
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                HashChildren(p, r, r);
                if ((fn & 1) == 0)
                {
                    while ((fn & 1) == 0 && fn != 0)
                    {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            }
            else
            {
                HashChildren(r, p, r);
            }

            fn >>= 1;
            sn >>= 1;
        }

        return sn == 0 && CryptographicOperations.FixedTimeEquals(r, rootHash);
    }

    /// <summary>Verifies a consistency proof (RFC 9162 §2.1.4.2).</summary>
    /// <param name="oldSize">The earlier tree size; 0 for the empty tree, which every tree extends (with an empty proof).</param>
    /// <param name="newSize">The later tree size.</param>
    /// <param name="proof">The proof nodes.</param>
    /// <param name="oldRoot">The root hash of the earlier tree.</param>
    /// <param name="newRoot">The root hash of the later tree.</param>
    /// <returns><see langword="true"/> when the later tree extends the earlier one.</returns>
    /// <remarks>From size 0 this accepts exactly an empty proof, whatever the later root, as RFC 9162 verifiers such as
    /// transparency-dev's do (two empty trees must still have equal roots).</remarks>
    public static bool VerifyConsistency(long oldSize, long newSize, IReadOnlyList<byte[]> proof, ReadOnlySpan<byte> oldRoot, ReadOnlySpan<byte> newRoot)
    {
        ArgumentNullException.ThrowIfNull(proof);
        if (oldSize == 0 && newSize > 0)
        {
            return proof.Count == 0;
        }

        if (oldSize < 0 || newSize < oldSize || oldRoot.Length != HashSize || newRoot.Length != HashSize)
        {
            return false;
        }

        if (oldSize == newSize)
        {
            return proof.Count == 0 && CryptographicOperations.FixedTimeEquals(oldRoot, newRoot);
        }

        if (proof.Count == 0)
        {
            return false;
        }

        foreach (var p in proof)
        {
            if (p is null || p.Length != HashSize)
            {
                return false;
            }
        }

        var nodes = proof;
        if (BitOperations.IsPow2(oldSize))
        {
            var withRoot = new List<byte[]>(proof.Count + 1) { oldRoot.ToArray() };
            withRoot.AddRange(proof);
            nodes = withRoot;
        }

        var fn = oldSize - 1;
        var sn = newSize - 1;
        while ((fn & 1) == 1)
        {
            fn >>= 1;
            sn >>= 1;
        }

        Span<byte> fr = stackalloc byte[HashSize];
        Span<byte> sr = stackalloc byte[HashSize];
        nodes[0].CopyTo(fr);
        nodes[0].CopyTo(sr);
        for (var i = 1; i < nodes.Count; i++)
        {
            var c = nodes[i];
            if (sn == 0)
            {
                return false;
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                HashChildren(c, fr, fr);
                HashChildren(c, sr, sr);
                if ((fn & 1) == 0)
                {
                    while ((fn & 1) == 0 && fn != 0)
                    {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            }
            else
            {
                HashChildren(sr, c, sr);
            }

            fn >>= 1;
            sn >>= 1;
        }

        return sn == 0 && CryptographicOperations.FixedTimeEquals(fr, oldRoot) && CryptographicOperations.FixedTimeEquals(sr, newRoot);
    }

    internal static long LargestPowerOfTwoBelow(long n) => 1L << (63 - BitOperations.LeadingZeroCount((ulong)(n - 1)));

    private static byte[] SubtreeHash(IReadOnlyList<byte[]> leaves, long start, long end)
    {
        var n = end - start;
        if (n == 1)
        {
            return leaves[(int)start];
        }

        // Perfect subtrees fold with a small stack; larger ones recurse at the largest power of two.
        var tree = new CompactMerkleTree();
        for (var i = start; i < end; i++)
        {
            tree.Append(leaves[(int)i]);
        }

        return tree.GetRootHash();
    }

    private static void InclusionPath(IReadOnlyList<byte[]> leaves, long m, long start, long end, List<byte[]> path)
    {
        var n = end - start;
        if (n == 1)
        {
            return;
        }

        var k = LargestPowerOfTwoBelow(n);
        if (m < k)
        {
            InclusionPath(leaves, m, start, start + k, path);
            path.Add(SubtreeHash(leaves, start + k, end));
        }
        else
        {
            InclusionPath(leaves, m - k, start + k, end, path);
            path.Add(SubtreeHash(leaves, start, start + k));
        }
    }

    private static void SubProof(IReadOnlyList<byte[]> leaves, long m, long start, long end, bool complete, List<byte[]> proof)
    {
        var n = end - start;
        if (m == n)
        {
            if (!complete)
            {
                proof.Add(SubtreeHash(leaves, start, end));
            }

            return;
        }

        var k = LargestPowerOfTwoBelow(n);
        if (m <= k)
        {
            SubProof(leaves, m, start, start + k, complete, proof);
            proof.Add(SubtreeHash(leaves, start + k, end));
        }
        else
        {
            SubProof(leaves, m - k, start + k, end, false, proof);
            proof.Add(SubtreeHash(leaves, start, start + k));
        }
    }

    private static void CheckHash(ReadOnlySpan<byte> hash, string name)
    {
        if (hash.Length != HashSize)
        {
            throw new ArgumentException($"A Merkle tree hash is {HashSize} bytes; got {hash.Length}.", name);
        }
    }
}

/// <summary>
/// The incremental state of an RFC 9162 Merkle tree: the roots of its perfect subtrees along the right edge (a compact range).
/// Appending a leaf and computing the root take O(log n) time and the state is O(log n) memory: at most 64 hashes.
/// </summary>
/// <remarks>Not thread-safe; callers serialize appends.</remarks>
internal sealed class CompactMerkleTree
{
    private readonly byte[] _stack = new byte[64 * MerkleTree.HashSize];
    private int _count;

    /// <summary>Gets the number of leaves appended so far.</summary>
    public long Size { get; private set; }

    /// <summary>Appends a leaf hash.</summary>
    /// <param name="leafHash">The RFC 6962 leaf hash (32 bytes).</param>
    /// <exception cref="ArgumentException"><paramref name="leafHash"/> is not 32 bytes.</exception>
    public void Append(ReadOnlySpan<byte> leafHash)
    {
        if (leafHash.Length != MerkleTree.HashSize)
        {
            throw new ArgumentException($"A leaf hash is {MerkleTree.HashSize} bytes; got {leafHash.Length}.", nameof(leafHash));
        }

        leafHash.CopyTo(Slot(_count));
        _count++;
        for (var s = Size; (s & 1) == 1; s >>= 1)
        {
            // Merge the two rightmost perfect subtrees of equal size.
            MerkleTree.HashChildren(Slot(_count - 2), Slot(_count - 1), Slot(_count - 2));
            _count--;
        }

        Size++;
    }

    /// <summary>Computes the current root hash.</summary>
    /// <returns>A new 32-byte array; SHA-256("") for the empty tree.</returns>
    public byte[] GetRootHash()
    {
        var root = new byte[MerkleTree.HashSize];
        GetRootHash(root);
        return root;
    }

    /// <summary>Computes the current root hash into <paramref name="destination"/>.</summary>
    /// <param name="destination">At least 32 bytes.</param>
    public void GetRootHash(Span<byte> destination)
    {
        if (_count == 0)
        {
            System.Security.Cryptography.SHA256.HashData(ReadOnlySpan<byte>.Empty, destination);
            return;
        }

        Slot(_count - 1).CopyTo(destination);
        for (var i = _count - 2; i >= 0; i--)
        {
            MerkleTree.HashChildren(Slot(i), destination[..MerkleTree.HashSize], destination);
        }
    }

    private Span<byte> Slot(int i) => _stack.AsSpan(i * MerkleTree.HashSize, MerkleTree.HashSize);
}
