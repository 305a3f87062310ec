using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Reports;
using OnnxInterp.Tests.Support;
using SkiaSharp;

namespace OnnxInterp.Tests.Reports;

public class HeatmapTests
{
    static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Samples land in the test output folder (bin/…/heatmap-samples) so a person can look at them.</summary>
    static string SampleDir => Path.Combine(TestContext.CurrentContext.WorkDirectory, "heatmap-samples");

    static double[,] Gradient(int layers, int positions, Func<int, int, double> f)
    {
        var m = new double[layers, positions];
        for (int l = 0; l < layers; l++) for (int p = 0; p < positions; p++) m[l, p] = f(l, p);
        return m;
    }

    static (int W, int H) PngSize(byte[] png) =>
        ((png[16] << 24) | (png[17] << 16) | (png[18] << 8) | png[19], (png[20] << 24) | (png[21] << 16) | (png[22] << 8) | png[23]);

    [Test]
    public void WritePng_WritesValidPngOfRequestedSize()
    {
        using var tmp = new TempDir();
        var labels = new[] { "<s>", "The", "city", "of", "s1", "s2", "is", "in", "o1", "." };
        var values = Gradient(16, labels.Length, (l, p) => Math.Sin(l * 0.4) * (p == 8 ? 3 : 1));
        var path = tmp.Sub("sub/knowledge.png");
        var size = Heatmap.WritePng(path, values, labels, "tiny-llama cities", "log P(T)/P(F)", diverging: false, width: 900, height: 600);

        var bytes = File.ReadAllBytes(path);
        Assert.That(bytes.Take(8), Is.EqualTo(PngSignature));
        Assert.That(PngSize(bytes), Is.EqualTo((900, 600)));
        Assert.That(size, Is.EqualTo((900, 600)));
        using var bmp = SKBitmap.Decode(bytes);
        Assert.That((bmp.Width, bmp.Height), Is.EqualTo((900, 600)), "the PNG decodes to the requested size");
        Assert.That(Directory.GetFiles(Path.GetDirectoryName(path)!), Is.EqualTo(new[] { path }), "no temporary file left behind");
    }

    [Test]
    public void WritePng_Diverging_Layer0AtBottom()
    {
        // Layer 0 all −1 (blue), the top layer all +1 (red), zeros between (near-white).
        int layers = 12;
        var labels = new[] { "The", "s1", "is", "o1", "." };
        var values = Gradient(layers, labels.Length, (l, _) => l == 0 ? -1 : l == layers - 1 ? 1 : 0);
        var (w, h, png) = Heatmap.Render(values, labels, "orientation", "Δ", diverging: true, width: 800, height: 600);
        using var bmp = SKBitmap.Decode(png);
        int x = w * 2 / 5; // inside the data area, left of the colour bar
        int? firstRed = null, lastBlue = null;
        for (int y = 0; y < h; y++)
        {
            var c = bmp.GetPixel(x, y);
            if (c.Red > 200 && c.Green < 60 && c.Blue < 60) firstRed ??= y;
            if (c.Blue > 200 && c.Red < 60 && c.Green < 60) lastBlue = y;
        }
        Assert.That(firstRed, Is.Not.Null, "positive row drawn red");
        Assert.That(lastBlue, Is.Not.Null, "negative row drawn blue");
        Assert.That(firstRed, Is.LessThan(lastBlue), "the last layer is above layer 0");
    }

    [Test]
    public void Render_CellLabels_DrawTextInTheCells_AndMustMatchTheShape()
    {
        // A constant matrix: one colour in the data area, so any other pixel inside a cell is its label's text.
        var values = new double[2, 3];
        var labels = new[] { "a", "b", "c" };
        var cells = new string[2, 3];
        cells[1, 1] = "WWW";
        var (w, h, plain) = Heatmap.Render(values, labels, "cells", "v", diverging: false, width: 600, height: 400);
        var (_, _, labelled) = Heatmap.Render(values, labels, "cells", "v", diverging: false, width: 600, height: 400, cellLabels: cells);
        using var a = SKBitmap.Decode(plain);
        using var b = SKBitmap.Decode(labelled);
        int differ = 0;
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) if (a.GetPixel(x, y) != b.GetPixel(x, y)) differ++;
        Assert.That(differ, Is.GreaterThan(20), "the label is drawn");
        Assert.That(() => Heatmap.Render(values, labels, "cells", "v", false, cellLabels: new string[3, 3]),
            Throws.TypeOf<InvalidArgumentException>().With.Message.Contains("cell labels [3, 3] for a [2, 3] matrix"));
    }

    [Test]
    public void WritePng_Samples_ForVisualCheck()
    {
        var labels = new[] { "<|begin_of_text|>", "The", "city", "of", "s1", "s2", "s3", "is", "in", "o1", "." };
        var rng = new Random(5);
        var raw = Gradient(32, labels.Length, (l, p) =>
            (labels[p].StartsWith('s') && l < 16 ? 3 : 0) + (p == labels.Length - 1 && l > 14 ? 4 : 0) + (p == 9 ? 2.5 : 0) + rng.NextDouble() - 0.5);
        var k = new KnowledgeMatrix("llama-3.1-8b", raw, labels, 100);
        var other = k with { Values = Gradient(32, labels.Length, (l, p) => raw[l, p] + (p == 10 && l > 20 ? -2.5 : 0)) };
        var cmp = KnowledgeComparison.Compare(k, other);

        var a = Heatmap.WritePng(Path.Combine(SampleDir, "normalized.png"), k.Normalized().Values, labels,
            "llama-3.1-8b cities (normalised)", "log P(T)/P(F)", diverging: false, range: (0, 1));
        var b = Heatmap.WritePng(Path.Combine(SampleDir, "difference.png"), cmp.Difference, labels,
            "base − instruct cities", "Δ normalised log P(T)/P(F)", diverging: true);
        var big = Gradient(80, 14, (l, p) => Math.Cos(l / 9.0) + p / 14.0);
        var c = Heatmap.WritePng(Path.Combine(SampleDir, "large.png"), big, Enumerable.Range(0, 14).Select(i => $"tok{i}").ToArray(),
            "80 layers", "value", diverging: false);
        foreach (var f in new[] { "normalized.png", "difference.png", "large.png" })
            Assert.That(File.ReadAllBytes(Path.Combine(SampleDir, f)).Take(8), Is.EqualTo(PngSignature), f);
        Assert.That(a.Width, Is.GreaterThanOrEqualTo(640));
        Assert.That(c.Height, Is.GreaterThan(b.Height), "default height grows with layers");
    }

    [Test]
    public void LayerLabelStep_EveryLayerForSmallModels()
    {
        Assert.That(Heatmap.LayerLabelStep(16), Is.EqualTo(1));
        Assert.That(Heatmap.LayerLabelStep(32), Is.EqualTo(1));
        Assert.That(Heatmap.LayerLabelStep(33), Is.EqualTo(2));
        Assert.That(Heatmap.LayerLabelStep(80), Is.EqualTo(4));
        Assert.That(Heatmap.LayerLabelStep(126), Is.EqualTo(4));
        Assert.That(Heatmap.LayerLabelStep(2000), Is.EqualTo(100));
    }

    [Test]
    public void WritePng_BadInput_Throws()
    {
        using var tmp = new TempDir();
        var path = tmp.Sub("x.png");
        Assert.Throws<InvalidArgumentException>(() => Heatmap.WritePng(path, new double[2, 3], ["a", "b"], "t", "c", false));
        Assert.Throws<InvalidArgumentException>(() => Heatmap.WritePng(path, new double[,] { { double.NaN } }, ["a"], "t", "c", false));
        Assert.Throws<InvalidArgumentException>(() => Heatmap.WritePng(path, new double[1, 1], ["a"], "t", "c", false, width: 10));
        Assert.That(File.Exists(path), Is.False);
    }

    [Test]
    public void WritePng_ConstantMatrix_Renders()
    {
        var (_, _, png) = Heatmap.Render(new double[3, 2], ["s1", "o1"], "zeros", "v", diverging: true);
        Assert.That(png.Take(8), Is.EqualTo(PngSignature));
        (_, _, png) = Heatmap.Render(new double[3, 2], ["s1", "o1"], "zeros", "v", diverging: false);
        Assert.That(png.Take(8), Is.EqualTo(PngSignature));
    }
}
