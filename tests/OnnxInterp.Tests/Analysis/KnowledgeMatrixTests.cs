using System.Text.Json;
using OnnxInterp.Analysis.Knowledge;

namespace OnnxInterp.Tests.Analysis;

public class KnowledgeMatrixTests
{
    static readonly string[] Labels3 = ["a", "b", "c"];

    [Test]
    public void Normalize_HandMatrix_MatchesPaperBins()
    {
        // min 0, max 20: lo = -1e-5, hi = 20 + 1e-5, bin width 1.000001, so edge k = k + k*1e-6 - 1e-5.
        // Edges below the middle sit just under the integers, edges above it just over them: 19 falls in bin 19 (0.9),
        // not bin 20, because of the paper's 1e-5 padding; 19.5 is in bin 20 (1.0).
        var values = new double[,]
        {
            { 0, 20, 9.9 },    // min -> bin 1 -> 0; max -> bin 20 -> 1.0; bin 10 -> 0
            { 10.1, 19, 5 },   // bin 11 -> 0.1; bin 19 -> 0.9; bin 6 -> 0
            { 15.5, 12, 19.5 } // bin 16 -> 0.6; bin 12 -> 0.2; bin 20 -> 1.0
        };
        var expected = new double[,]
        {
            { 0, 1.0, 0 },
            { 0.1, 0.9, 0 },
            { 0.6, 0.2, 1.0 },
        };
        Assert.That(KnowledgeMatrix.Normalize(values), Is.EqualTo(expected).Within(1e-12));
    }

    [Test]
    public void Normalize_ValueOnBinEdge_GoesToTheBinAbove()
    {
        // Edges as numpy.linspace(min - 1e-5, max + 1e-5, 21) computes them: lo + i * step.
        double lo = 0 - 1e-5, hi = 20 + 1e-5, step = (hi - lo) / 20;
        double edge15 = 15 * step + lo, edge10 = 10 * step + lo;
        Assert.That(KnowledgeMatrix.BinEdges(0, 20)[15], Is.EqualTo(edge15));
        Assert.That(KnowledgeMatrix.BinEdges(0, 20)[20], Is.EqualTo(hi));

        // numpy.digitize (right=False): bins[i-1] <= x < bins[i], so a value on edge 15 is in bin 16 -> 0.6.
        Assert.That(Row(0, edge15, 20), Is.EqualTo(new[] { 0, 0.6, 1.0 }).Within(1e-12));
        Assert.That(Row(0, Math.BitDecrement(edge15), 20), Is.EqualTo(new[] { 0, 0.5, 1.0 }).Within(1e-12));
        // The middle edge: on it -> bin 11 -> 0.1, just below it -> bin 10 -> 0.
        Assert.That(Row(0, edge10, 20), Is.EqualTo(new[] { 0, 0.1, 1.0 }).Within(1e-12));
        Assert.That(Row(0, Math.BitDecrement(edge10), 20), Is.EqualTo(new[] { 0, 0, 1.0 }).Within(1e-12));
    }

    static double[] Row(params double[] v)
    {
        var m = new double[1, v.Length];
        for (int i = 0; i < v.Length; i++) m[0, i] = v[i];
        return KnowledgeMatrix.ToJagged(KnowledgeMatrix.Normalize(m))[0];
    }

    [Test]
    public void Normalize_NegativeRange_MinIsZeroMaxIsOne()
    {
        Assert.That(Row(-3, -1, -2.05, -1.95), Is.EqualTo(new[] { 0, 1.0, 0, 0.1 }).Within(1e-12));
    }

    [Test]
    public void Normalize_ConstantMatrix_IsAllZeros()
    {
        var m = new double[,] { { 2.5, 2.5 }, { 2.5, 2.5 } };
        Assert.That(KnowledgeMatrix.Normalize(m), Is.EqualTo(new double[2, 2]));
        Assert.That(KnowledgeMatrix.Normalize(new double[,] { { -7 } }), Is.EqualTo(new double[1, 1]));
    }

    [Test]
    public void Normalize_OnlyElevenLevels_AndKeepsShape()
    {
        var rng = new Random(7);
        var m = new double[5, 9];
        for (int r = 0; r < 5; r++) for (int c = 0; c < 9; c++) m[r, c] = rng.NextDouble() * 6 - 2;
        var n = KnowledgeMatrix.Normalize(m);
        Assert.That(n.GetLength(0), Is.EqualTo(5));
        Assert.That(n.GetLength(1), Is.EqualTo(9));
        var levels = Enumerable.Range(0, 11).Select(k => k / 10.0).ToArray();
        foreach (var v in n) Assert.That(levels, Does.Contain(v));
    }

    [Test]
    public void Normalized_KeepsModelLabelsPairs()
    {
        var k = new KnowledgeMatrix("m", new double[,] { { 0, 1, 2 } }, Labels3, 4);
        var n = k.Normalized();
        Assert.That((n.Model, n.Pairs), Is.EqualTo(("m", 4)));
        Assert.That(n.PositionLabels, Is.EqualTo(Labels3));
        Assert.That(n.ToJagged()[0], Is.EqualTo(new[] { 0, 0.1, 1.0 }).Within(1e-12));
        Assert.That(k.Values[0, 2], Is.EqualTo(2), "the original is not changed");
    }

    [Test]
    public void Normalize_NonFinite_Throws()
    {
        var ex = Assert.Throws<InvalidArgumentException>(() => KnowledgeMatrix.Normalize(new double[,] { { 0, double.NaN } }));
        Assert.That(ex!.Message, Does.Contain("[0, 1]"));
    }

    [Test]
    public void Average_IsCellwiseMean()
    {
        var a = new double[,] { { 1, 2 }, { 3, 4 } };
        var b = new double[,] { { 3, 2 }, { -3, 0 } };
        var c = new double[,] { { 2, 5 }, { 0, 2 } };
        Assert.That(KnowledgeMatrix.Average([a, b, c]), Is.EqualTo(new double[,] { { 2, 3 }, { 0, 2 } }).Within(1e-12));

        var k = KnowledgeMatrix.FromPairs("base", [a, b, c], ["x", "y"]);
        Assert.That(k.Pairs, Is.EqualTo(3));
        Assert.That(k.Values[0, 1], Is.EqualTo(3).Within(1e-12));
    }

    [Test]
    public void Average_EmptyOrShapeMismatch_Throws()
    {
        Assert.Throws<InvalidArgumentException>(() => KnowledgeMatrix.Average([]));
        var ex = Assert.Throws<InvalidArgumentException>(() => KnowledgeMatrix.Average([new double[2, 3], new double[3, 2]]));
        Assert.That(ex!.Message, Does.Contain("[3, 2]").And.Contain("[2, 3]"));
    }

    [Test]
    public void Constructor_ChecksLabelsAndValues()
    {
        Assert.Throws<InvalidArgumentException>(() => _ = new KnowledgeMatrix("m", new double[1, 3], ["a", "b"], 1));
        Assert.Throws<InvalidArgumentException>(() => _ = new KnowledgeMatrix("m", new double[0, 3], Labels3, 1));
        Assert.Throws<InvalidArgumentException>(() => _ = new KnowledgeMatrix("m", new double[,] { { 0, double.PositiveInfinity, 0 } }, Labels3, 1));
        Assert.Throws<InvalidArgumentException>(() => _ = new KnowledgeMatrix("m", new double[1, 3], Labels3, -1));
    }

    [Test]
    public void Json_RoundTripsThroughDto()
    {
        var k = new KnowledgeMatrix("llama", new double[,] { { 0.1, -2 }, { 3.25, 1e-9 } }, ["s1", "o1"], 12);
        var json = JsonSerializer.Serialize(k.ToDto());
        var back = KnowledgeMatrix.FromDto(JsonSerializer.Deserialize<KnowledgeMatrixDto>(json)!);
        Assert.That(back.Values, Is.EqualTo(k.Values));
        Assert.That((back.Model, back.Pairs), Is.EqualTo(("llama", 12)));
        Assert.That(back.PositionLabels, Is.EqualTo(k.PositionLabels));
        Assert.That(json, Does.Contain("[[0.1,-2],[3.25,1E-09]]"));
    }

    [Test]
    public void FromJagged_RaggedRows_Throws()
    {
        Assert.Throws<InvalidArgumentException>(() => KnowledgeMatrix.FromJagged([[1, 2], [3]]));
        Assert.Throws<InvalidArgumentException>(() => KnowledgeMatrix.FromJagged([]));
    }
}
