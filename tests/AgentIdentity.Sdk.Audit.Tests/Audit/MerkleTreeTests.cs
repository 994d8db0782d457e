using System.Security.Cryptography;
using System.Text;
using AgentIdentity.Audit;

namespace AgentIdentity.Tests.Audit;

public sealed class MerkleTreeTests
{
    // The RFC 6962 test leaves used by certificate-transparency and transparency-dev.
    private static readonly byte[][] Leaves =
    [
        [], [0x00], [0x10], [0x20, 0x21], [0x30, 0x31], [0x40, 0x41, 0x42, 0x43],
        [0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
        Convert.FromHexString("606162636465666768696a6b6c6d6e6f"),
    ];

    private static readonly string[] Roots =
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    [Fact]
    public void GetEmptyRootHash_IsSha256OfEmptyString()
    {
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Convert.ToHexStringLower(MerkleTree.GetEmptyRootHash()));
        Assert.Equal(MerkleTree.GetEmptyRootHash(), new CompactMerkleTree().GetRootHash());
    }

    [Fact]
    public void HashLeaf_KnownAnswers_Match()
    {
        Assert.Equal("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d", Convert.ToHexStringLower(MerkleTree.HashLeaf([])));
        Assert.Equal("bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=", Convert.ToBase64String(MerkleTree.HashLeaf([])));
        Assert.Equal("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56", Convert.ToHexStringLower(MerkleTree.HashLeaf("L123456"u8)));
    }

    [Fact]
    public void HashChildren_KnownAnswer_Matches()
    {
        // transparency-dev rfc6962_test.go hashes the ASCII strings as if they were child hashes, so use the raw node formula.
        var expected = SHA256.HashData([0x01, .. "N123"u8, .. "N456"u8]);
        Assert.Equal("aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb", Convert.ToHexStringLower(expected));

        var left = MerkleTree.HashLeaf("a"u8);
        var right = MerkleTree.HashLeaf("b"u8);
        Assert.Equal(SHA256.HashData([0x01, .. left, .. right]), MerkleTree.HashChildren(left, right));
    }

    [Fact]
    public void CompactMerkleTree_Rfc6962Vectors_MatchRootAtEverySize()
    {
        var tree = new CompactMerkleTree();
        for (var i = 0; i < Leaves.Length; i++)
        {
            tree.Append(MerkleTree.HashLeaf(Leaves[i]));
            Assert.Equal(i + 1, tree.Size);
            Assert.Equal(Roots[i], Convert.ToHexStringLower(tree.GetRootHash()));
        }
    }

    [Theory]
    [InlineData(0, 8, "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7,5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e,6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]
    [InlineData(5, 8, "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b,ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0,d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]
    [InlineData(2, 3, "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]
    [InlineData(1, 5, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d,5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e,bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]
    [InlineData(0, 1, "")]
    public void CreateInclusionProof_Rfc6962Vectors_MatchAndVerify(long index, long size, string expected)
    {
        var hashes = Leaves.Select(l => MerkleTree.HashLeaf(l)).ToList();

        var proof = MerkleTree.CreateInclusionProof(hashes, index, size);

        Assert.Equal(expected, string.Join(",", proof.Select(Convert.ToHexStringLower)));
        Assert.True(MerkleTree.VerifyInclusion(index, size, hashes[(int)index], proof, Convert.FromHexString(Roots[size - 1])));
    }

    [Theory]
    [InlineData(1, 8, "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7,5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e,6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]
    [InlineData(6, 8, "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a,ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0,d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]
    [InlineData(2, 5, "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e,bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]
    [InlineData(8, 8, "")]
    public void CreateConsistencyProof_Rfc6962Vectors_MatchAndVerify(long oldSize, long newSize, string expected)
    {
        var hashes = Leaves.Select(l => MerkleTree.HashLeaf(l)).ToList();

        var proof = MerkleTree.CreateConsistencyProof(hashes, oldSize, newSize);

        Assert.Equal(expected, string.Join(",", proof.Select(Convert.ToHexStringLower)));
        Assert.True(MerkleTree.VerifyConsistency(oldSize, newSize, proof, Convert.FromHexString(Roots[oldSize - 1]), Convert.FromHexString(Roots[newSize - 1])));
    }

    [Fact]
    public void Proofs_EverySizeFrom1To64_MatchReferenceAndVerify()
    {
        var hashes = Enumerable.Range(0, 64).Select(i => MerkleTree.HashLeaf(Encoding.UTF8.GetBytes($"leaf-{i}"))).ToList();
        for (var size = 1; size <= 64; size++)
        {
            var root = ReferenceRoot(hashes, 0, size);
            var tree = new CompactMerkleTree();
            for (var i = 0; i < size; i++)
            {
                tree.Append(hashes[i]);
            }

            Assert.Equal(root, tree.GetRootHash());
            Assert.Equal(root, MerkleTree.ComputeRoot(hashes, size));
            for (var index = 0; index < size; index++)
            {
                var proof = MerkleTree.CreateInclusionProof(hashes, index, size);
                Assert.Equal(ReferencePath(hashes, index, 0, size), proof);
                Assert.True(MerkleTree.VerifyInclusion(index, size, hashes[index], proof, root), $"inclusion {index}/{size}");
                Assert.False(MerkleTree.VerifyInclusion(index, size, hashes[(index + 1) % 64], proof, root), $"wrong leaf {index}/{size}");
                if (proof.Count > 0)
                {
                    var tampered = proof.Select(p => (byte[])p.Clone()).ToList();
                    tampered[^1][0] ^= 1;
                    Assert.False(MerkleTree.VerifyInclusion(index, size, hashes[index], tampered, root), $"tampered {index}/{size}");
                    Assert.False(MerkleTree.VerifyInclusion(index, size, hashes[index], proof.Take(proof.Count - 1).ToList(), root), $"short {index}/{size}");
                }

                Assert.False(MerkleTree.VerifyInclusion(index, size * 2 + 1, hashes[index], proof, root), $"wrong size {index}/{size}");
            }

            for (var oldSize = 1; oldSize <= size; oldSize++)
            {
                var oldRoot = ReferenceRoot(hashes, 0, oldSize);
                var proof = MerkleTree.CreateConsistencyProof(hashes, oldSize, size);
                Assert.Equal(ReferenceConsistency(hashes, oldSize, size), proof);
                Assert.True(MerkleTree.VerifyConsistency(oldSize, size, proof, oldRoot, root), $"consistency {oldSize}->{size}");
                if (oldSize < size)
                {
                    Assert.False(MerkleTree.VerifyConsistency(oldSize, size, proof, root, root), $"wrong old root {oldSize}->{size}");
                    var tampered = proof.Select(p => (byte[])p.Clone()).ToList();
                    tampered[0][31] ^= 0x80;
                    Assert.False(MerkleTree.VerifyConsistency(oldSize, size, tampered, oldRoot, root), $"tampered {oldSize}->{size}");
                }
            }
        }
    }

    [Fact]
    public void Proofs_RandomLargeTrees_MatchReference()
    {
        var random = new Random(7);
        for (var round = 0; round < 20; round++)
        {
            var size = random.Next(65, 700);
            var hashes = Enumerable.Range(0, size).Select(_ => RandomNumberGenerator.GetBytes(32)).ToList();
            var root = ReferenceRoot(hashes, 0, size);
            var index = random.Next(size);
            var oldSize = random.Next(1, size + 1);

            Assert.True(MerkleTree.VerifyInclusion(index, size, hashes[index], MerkleTree.CreateInclusionProof(hashes, index, size), root));
            Assert.True(MerkleTree.VerifyConsistency(oldSize, size, MerkleTree.CreateConsistencyProof(hashes, oldSize, size), ReferenceRoot(hashes, 0, oldSize), root));
        }
    }

    [Fact]
    public void VerifyConsistency_FromEmptyTree_AcceptsExactlyTheEmptyProof()
    {
        // As RFC 9162 verifiers do (transparency-dev's proof.VerifyConsistency): every tree extends the empty tree.
        var leaf = MerkleTree.HashLeaf([]);
        var empty = MerkleTree.GetEmptyRootHash();
        Assert.Empty(MerkleTree.CreateConsistencyProof([leaf], 0, 1));
        Assert.True(MerkleTree.VerifyConsistency(0, 1, [], empty, leaf));
        Assert.False(MerkleTree.VerifyConsistency(0, 1, [leaf], empty, leaf));
        Assert.True(MerkleTree.VerifyConsistency(0, 0, [], empty, empty));
        Assert.False(MerkleTree.VerifyConsistency(0, 0, [], empty, leaf));
        Assert.False(MerkleTree.VerifyConsistency(-1, 1, [], empty, leaf));
        Assert.Throws<ArgumentOutOfRangeException>(() => MerkleTree.CreateConsistencyProof([leaf], -1, 1));
    }

    [Fact]
    public void CreateInclusionProof_IndexOutOfRange_Throws()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => MerkleTree.CreateInclusionProof([MerkleTree.HashLeaf([])], 1, 1));
        Assert.Contains("[0, 1)", ex.Message, StringComparison.Ordinal);
    }

    // A naive recomputation straight from RFC 6962 §2.1, independent of the production code paths.
    private static byte[] ReferenceRoot(List<byte[]> leaves, int start, int end)
    {
        var n = end - start;
        if (n == 1)
        {
            return leaves[start];
        }

        var k = 1;
        while (k * 2 < n)
        {
            k *= 2;
        }

        return SHA256.HashData([0x01, .. ReferenceRoot(leaves, start, start + k), .. ReferenceRoot(leaves, start + k, end)]);
    }

    private static List<byte[]> ReferencePath(List<byte[]> leaves, int m, int start, int end)
    {
        var n = end - start;
        if (n == 1)
        {
            return [];
        }

        var k = 1;
        while (k * 2 < n)
        {
            k *= 2;
        }

        return m < k
            ? [.. ReferencePath(leaves, m, start, start + k), ReferenceRoot(leaves, start + k, end)]
            : [.. ReferencePath(leaves, m - k, start + k, end), ReferenceRoot(leaves, start, start + k)];
    }

    private static List<byte[]> ReferenceConsistency(List<byte[]> leaves, int m, int n) => ReferenceSubProof(leaves, m, 0, n, true);

    private static List<byte[]> ReferenceSubProof(List<byte[]> leaves, int m, int start, int end, bool b)
    {
        var n = end - start;
        if (m == n)
        {
            return b ? [] : [ReferenceRoot(leaves, start, end)];
        }

        var k = 1;
        while (k * 2 < n)
        {
            k *= 2;
        }

        return m <= k
            ? [.. ReferenceSubProof(leaves, m, start, start + k, b), ReferenceRoot(leaves, start + k, end)]
            : [.. ReferenceSubProof(leaves, m - k, start + k, end, false), ReferenceRoot(leaves, start, start + k)];
    }
}
