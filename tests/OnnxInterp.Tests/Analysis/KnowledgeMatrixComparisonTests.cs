using MathNet.Numerics.Statistics;
using OnnxInterp.Analysis.Knowledge;

namespace OnnxInterp.Tests.Analysis;

public class KnowledgeMatrixComparisonTests
{
    static readonly string[] Labels = ["The", "s1", "s2", "is", "in", "o1", "."];

    [Test]
    public void Pearson_HandComputed()
    {
        // x = 1,2,3,4; y = 2,1,4,3; means 2.5; Sxy = .75+.75+.75+.75 = 3; Sxx = Syy = 5; r = 3/5.
        var r = KnowledgeComparison.Pearson(new double[,] { { 1, 2 }, { 3, 4 } }, new double[,] { { 2, 1 }, { 4, 3 } });
        Assert.That(r, Is.EqualTo(0.6).Within(1e-15));
        Assert.That(KnowledgeComparison.Pearson(new double[,] { { 1, 2 } }, new double[,] { { 5, 5 } }), Is.NaN, "constant input, as scipy");
    }

    [Test]
    public void Pearson_AgreesWithMathNet()
    {
        var rng = new Random(11);
        for (int trial = 0; trial < 20; trial++)
        {
            int rows = rng.Next(1, 9), cols = rng.Next(2, 9);
            var x = new double[rows, cols];
            var y = new double[rows, cols];
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++)
                {
                    x[r, c] = rng.NextDouble() * 10 - 3;
                    y[r, c] = 0.5 * x[r, c] + rng.NextDouble() * 4;
                }
            var expected = Correlation.Pearson(x.Cast<double>(), y.Cast<double>());
            Assert.That(KnowledgeComparison.Pearson(x, y), Is.EqualTo(expected).Within(1e-12));

            var a = new KnowledgeMatrix("a", x, Enumerable.Range(0, cols).Select(i => $"t{i}").ToArray(), 1);
            var b = a with { Model = "b", Values = y };
            var normalized = Correlation.Pearson(a.Normalized().Values.Cast<double>(), b.Normalized().Values.Cast<double>());
            var result = KnowledgeComparison.Compare(a, b);
            if (double.IsNaN(normalized)) Assert.That(result.Corr, Is.NaN);
            else Assert.That(result.Corr, Is.EqualTo(normalized).Within(1e-12));
        }
    }

    [Test]
    public void MaxAbsDiffK_UsesOnlySubjectAndObjectColumns()
    {
        //                         The  s1   s2   is   in   o1    .
        var a = new double[,] { { 0.0, 1.0, 3.0, 5.0, 0.0, -4.0, 0.0 },
                                { 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0 } };
        var b = new double[2, 7];
        var ka = new KnowledgeMatrix("instruct", a, Labels, 3);
        var kb = new KnowledgeMatrix("base", b, Labels, 3);

        var raw = KnowledgeComparison.Compare(ka, kb, normalized: false);
        Assert.That(raw.MaxAbsDiff, Is.EqualTo(5.0), "the largest difference is in the template column 'is'");
        Assert.That(raw.MaxAbsDiffK, Is.EqualTo(4.0), "o1's |−4| is the largest among s1, s2, o1");
        Assert.That(raw.KnowledgeColumns, Is.EqualTo(new[] { 1, 2, 5 }));
        Assert.That(raw.Difference[0, 5], Is.EqualTo(-4.0));
        Assert.That(raw.Normalized, Is.False);

        // Normalised (the default, as the paper): a's range [-4, 5], bin width 0.45 + 1e-6: 5 -> 1.0, 3 -> bin 16 -> 0.6,
        // 2 -> bin 14 -> 0.4, 1 -> bin 12 -> 0.2, 0 -> bin 9 -> 0, -4 -> 0. b is constant -> all zeros.
        var n = KnowledgeComparison.Compare(ka, kb);
        Assert.That(n.Normalized, Is.True);
        Assert.That(n.MaxAbsDiff, Is.EqualTo(1.0).Within(1e-12));
        Assert.That(n.MaxAbsDiffK, Is.EqualTo(0.6).Within(1e-12));
        Assert.That(n.Difference[1, 6], Is.EqualTo(0.4).Within(1e-12));
        Assert.That(n.Difference[0, 1], Is.EqualTo(0.2).Within(1e-12));
        Assert.That(n.Corr, Is.NaN, "b normalises to a constant matrix");
    }

    [Test]
    public void Compare_Default_IsRawMetricsOnNormalisedMatrices()
    {
        var rng = new Random(3);
        var x = new double[6, 7];
        var y = new double[6, 7];
        for (int r = 0; r < 6; r++) for (int c = 0; c < 7; c++) { x[r, c] = rng.NextDouble(); y[r, c] = rng.NextDouble() * 3; }
        var a = new KnowledgeMatrix("a", x, Labels, 5);
        var b = new KnowledgeMatrix("b", y, Labels, 5);
        var def = KnowledgeComparison.Compare(a, b);
        var manual = KnowledgeComparison.Compare(a.Normalized(), b.Normalized(), normalized: false);
        Assert.That((def.Corr, def.MaxAbsDiff, def.MaxAbsDiffK), Is.EqualTo((manual.Corr, manual.MaxAbsDiff, manual.MaxAbsDiffK)));
        var self = KnowledgeComparison.Compare(a, a);
        Assert.That((self.Corr, self.MaxAbsDiff, self.MaxAbsDiffK), Is.EqualTo((1.0, 0.0, 0.0)));
    }

    [Test]
    public void Compare_DifferentShapesOrLabels_ThrowsNamingBoth()
    {
        var a = new KnowledgeMatrix("modelA", new double[2, 3], ["s1", "is", "o1"], 1);
        var b = new KnowledgeMatrix("modelB", new double[3, 3], ["s1", "is", "o1"], 1);
        var c = new KnowledgeMatrix("modelC", new double[2, 3], ["s1", "was", "o1"], 1);
        var ex = Assert.Throws<InvalidArgumentException>(() => KnowledgeComparison.Compare(a, b));
        Assert.That(ex!.Message, Does.Contain("modelA").And.Contain("modelB").And.Contain("[2, 3]").And.Contain("[3, 3]"));
        ex = Assert.Throws<InvalidArgumentException>(() => KnowledgeComparison.Compare(a, c));
        Assert.That(ex!.Message, Does.Contain("modelA").And.Contain("modelC").And.Contain("is").And.Contain("was"));
    }

    [Test]
    public void KnowledgeLabels_SubjectAndObjectTokensOnly()
    {
        foreach (var yes in new[] { "s1", "s12", "o1", "o3", "[s1]", "[o2]" })
            Assert.That(KnowledgeComparison.IsKnowledgeLabel(yes), Is.True, yes);
        foreach (var no in new[] { "s", "o", "so1", "s1a", "subject", "The", ".", "[s1", "S1", "x1", "s1]", " s1" })
            Assert.That(KnowledgeComparison.IsKnowledgeLabel(no), Is.False, no);
        var none = KnowledgeComparison.Compare(new KnowledgeMatrix("a", new double[,] { { 1, 2 } }, ["x", "y"], 1),
            new KnowledgeMatrix("b", new double[,] { { 2, 1 } }, ["x", "y"], 1));
        Assert.That(none.MaxAbsDiffK, Is.NaN, "no subject or object column");
    }
}
