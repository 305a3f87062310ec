using System.Buffers.Binary;
using System.Text.Json;
using OnnxInterp.Analysis.Confidence;
using OnnxInterp.Reports;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Analysis.Confidence;

public class ConfidenceReportTests
{
    static EntropyNeuronSet Set(string name, params (int Index, double Norm, double LogitVar)[] neurons)
    {
        var norms = Enumerable.Range(0, 16).Select(i => 0.5f + 0.01f * i).ToArray();
        var lv = Enumerable.Range(0, 16).Select(i => 1e-3f * (1 + i % 5)).ToArray();
        foreach (var n in neurons) { norms[n.Index] = (float)n.Norm; lv[n.Index] = (float)n.LogitVar; }
        return new EntropyNeuronSet(name, 3, norms, lv, 0.6, 4,
            neurons.Select(n => new EntropyNeuron(n.Index, n.Norm, n.LogitVar, EntropyNeurons.Ratio(n.Norm, n.LogitVar))).ToList());
    }

    static ConfidenceResult Result()
    {
        var a = Set("a", (1, 2, Math.Exp(-4)), (5, 3, Math.Exp(-6)), (7, 1, Math.Exp(-2)));
        var b = Set("b", (5, 3, Math.Exp(-3)), (1, 2, Math.Exp(-4)), (9, 4, Math.Exp(-8)));
        return new ConfidenceResult(new ConfidenceOptions(), [a, b], [EntropyNeuronOverlap.Compare(a, b)], null, null);
    }

    [Test]
    public void Markdown_WeightsOnly_HasTable14Row()
    {
        var md = ConfidenceReport.Markdown(Result());
        // The hand example of EntropyNeuronsTests: 2 shared of 3, IoU 0.5, mean diff 0.25, mean |ratio| 3.5 / 6.
        Assert.That(md, Does.Contain("| a vs b | 2/3 | 0.500 | 0.2500 | 0.5833 |"));
        Assert.That(md, Does.Contain("| a | 0.600 | 4 | 1 (2.000, 1.83e-2); 5 (3.000, 2.48e-3); 7 (1.000, 1.35e-1) |"));
        Assert.That(md, Does.Not.Contain("Mean ablation"));
    }

    [Test]
    public void Write_WeightsOnly_JsonAndOneScatterPerModel()
    {
        using var tmp = new TempDir();
        ConfidenceReport.Write(tmp.Path, Result());
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(tmp.Path, ConfidenceReport.JsonFile)));
        var models = json.RootElement.GetProperty("models");
        Assert.That(models.GetArrayLength(), Is.EqualTo(2));
        Assert.That(models[0].GetProperty("norms").GetArrayLength(), Is.EqualTo(16));
        Assert.That(models[1].GetProperty("entropyNeurons")[2].GetProperty("index").GetInt32(), Is.EqualTo(9));
        Assert.That(json.RootElement.GetProperty("overlaps")[0].GetProperty("iou").GetDouble(), Is.EqualTo(0.5));
        Assert.That(json.RootElement.GetProperty("ablations").ValueKind, Is.EqualTo(JsonValueKind.Null));
        foreach (var m in new[] { "a", "b" })
        {
            var png = File.ReadAllBytes(Path.Combine(tmp.Path, "figures", ConfidenceReport.FigureFile(m)));
            Assert.That(png.AsSpan(1, 3).ToArray(), Is.EqualTo("PNG"u8.ToArray()));
            Assert.That((BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20))), Is.EqualTo((800, 600)));
        }
        Assert.That(Directory.GetFiles(tmp.Path, ".*.tmp", SearchOption.AllDirectories), Is.Empty, "no temporary files left");
    }

    [Test]
    public void Scatter_BadSize_IsTypedError() =>
        Assert.Throws<InvalidArgumentException>(() => EntropyScatter.Render(Result().Models[0], width: 50));
}
