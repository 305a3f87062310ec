using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Checkpoints;
using OnnxInterp.Data;
using OnnxInterp.Export;
using OnnxInterp.Reports;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Tests.Reliability;

/// <summary>
/// Same inputs and seed, same machine: bit-identical results. Across intra-op thread counts and across fp32/fp16
/// exports: the tolerances docs/determinism.md states, measured here on a tiny random model (and on the trained family
/// when ONNXINTERP_FAMILY or models/ provides it).
/// </summary>
public class DeterminismTests
{
    [Test]
    public void KnowledgeReport_SameInputsAndSeed_BitIdenticalFiles()
    {
        using var tmp = new TempDir();
        var world = SyntheticWorld.Generate(4);
        var corpus = world.ToDataset(SyntheticWorld.Cities).Statements.Select(s => s.Text + " This statement is: TRUE FALSE");
        File.WriteAllText(tmp.Sub("tokenizer.json"), BpeTrainer.TrainByteLevel(corpus, new BpeTrainer.Options(600, ["<s>", "</s>"], "<s>")));
        foreach (var (name, seed) in new[] { ("base", 1), ("post", 2) })
        {
            RandomCheckpoint.Write(tmp.Sub(name + "-hf"), new RandomCheckpointSpec { Layers = 2, Seed = seed, VocabSize = 600 });
            File.Copy(tmp.Sub("tokenizer.json"), Path.Combine(tmp.Sub(name + "-hf"), "tokenizer.json"), overwrite: true);
            ModelExporter.Export(tmp.Sub(name + "-hf"), tmp.Sub(name), new ExportOptions { HashSource = false });
        }
        // Two complete runs, each with its own sessions, tokenizer and dataset objects.
        foreach (var run in new[] { "run1", "run2" })
        {
            using var pair = ModelPair.Open(tmp.Sub("base"), tmp.Sub("post"));
            var w = SyntheticWorld.Generate(4);
            var result = KnowledgeAnalysis.Run(w.ToDataset(SyntheticWorld.Cities), pair.Tokenizer!,
                [new KnowledgeModel("base", pair.Base), new KnowledgeModel("post", pair.Post)], w.FewShot(SyntheticWorld.Cities),
                new KnowledgeOptions { MaxPairs = 3, Seed = 7 });
            KnowledgeReport.Write(tmp.Sub(run), result);
        }
        var files = Directory.GetFiles(tmp.Sub("run1"), "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(tmp.Sub("run1"), f)).Order().ToList();
        Assert.That(files, Has.Member("knowledge_cities.json"));
        Assert.That(Directory.GetFiles(tmp.Sub("run2"), "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(tmp.Sub("run2"), f)).Order(), Is.EqualTo(files));
        foreach (var f in files)
            Assert.That(File.ReadAllBytes(Path.Combine(tmp.Sub("run2"), f)), Is.EqualTo(File.ReadAllBytes(Path.Combine(tmp.Sub("run1"), f))), f);
    }

    /// <summary>Largest |a − b| over logits and over each hook kind, and the largest |a| (the scale).</summary>
    internal sealed record Differences(double Logits, double LogitScale, double ResidPost, double ResidScale, double MlpPost, double Top1Agreement)
    {
        public override string ToString() =>
            $"logits max|Δ| {Logits:G3} (max|logit| {LogitScale:F2}), resid_post max|Δ| {ResidPost:G3} (max|h| {ResidScale:F2}), mlp.hook_post max|Δ| {MlpPost:G3}, top-1 agreement {Top1Agreement:P1}";
    }

    static readonly int[][] Prompts = MakePrompts(258);

    static int[][] MakePrompts(int vocab)
    {
        var rng = new Random(11);
        return Enumerable.Range(0, 8).Select(_ => Enumerable.Range(0, rng.Next(12, 33)).Select(_ => rng.Next(vocab)).ToArray()).ToArray();
    }

    internal static Differences Compare(ModelSession a, ModelSession b, int[][] prompts)
    {
        var request = ForwardRequest.FromPrompts(prompts, 0) with { Hooks = ["*"] };
        var ra = a.Run(request);
        var rb = b.Run(request);
        static double MaxDiff(float[] x, float[] y) => x.Zip(y).Max(p => Math.Abs((double)p.First - p.Second));
        static double MaxAbs(float[] x) => x.Max(v => Math.Abs((double)v));
        double Hooks(string suffix, bool scale = false) => ra.Cache.Keys.Where(k => k.ToString().EndsWith(suffix, StringComparison.Ordinal))
            .Max(k => scale ? MaxAbs(ra.Cache[k].Data) : MaxDiff(ra.Cache[k].Data, rb.Cache[k].Data));
        int vocab = a.Manifest.Config.VocabSize, rows = ra.Logits.Data.Length / vocab, agree = 0;
        for (int r = 0; r < rows; r++)
        {
            var x = ra.Logits.Data.AsSpan(r * vocab, vocab);
            var y = rb.Logits.Data.AsSpan(r * vocab, vocab);
            if (System.Numerics.Tensors.TensorPrimitives.IndexOfMax(x) == System.Numerics.Tensors.TensorPrimitives.IndexOfMax(y)) agree++;
        }
        return new Differences(MaxDiff(ra.Logits.Data, rb.Logits.Data), MaxAbs(ra.Logits.Data), Hooks("hook_resid_post"), Hooks("hook_resid_post", scale: true),
            Hooks("mlp.hook_post"), (double)agree / rows);
    }

    static string TinyExport(TempDir tmp, ExportDType dtype)
    {
        if (!Directory.Exists(tmp.Sub("hf"))) RandomCheckpoint.Write(tmp.Sub("hf"), new RandomCheckpointSpec { Layers = 4, HiddenSize = 128, IntermediateSize = 352, Heads = 4, KvHeads = 2 });
        var dir = tmp.Sub(dtype.ToString());
        ModelExporter.Export(tmp.Sub("hf"), dir, new ExportOptions { DType = dtype, HashSource = false, LayerGraphs = false });
        return dir;
    }

    [Test]
    public void Forward_TwoSessionsSameConfig_BitIdentical()
    {
        using var tmp = new TempDir();
        var dir = TinyExport(tmp, ExportDType.Fp32);
        using var a = ModelSession.Open(dir);
        using var b = ModelSession.Open(dir);
        var d = Compare(a, b, Prompts);
        TestContext.Out.WriteLine(d);
        Assert.That((d.Logits, d.ResidPost, d.MlpPost), Is.EqualTo((0.0, 0.0, 0.0)));
    }

    [TestCase(1, 2)]
    [TestCase(1, 4)]
    public void Forward_IntraOpThreads_WithinDocumentedTolerance(int threadsA, int threadsB)
    {
        using var tmp = new TempDir();
        var dir = TinyExport(tmp, ExportDType.Fp32);
        using var a = ModelSession.Open(dir, new SessionConfig { Threads = threadsA });
        using var b = ModelSession.Open(dir, new SessionConfig { Threads = threadsB });
        var d = Compare(a, b, Prompts);
        TestContext.Out.WriteLine($"threads {threadsA} vs {threadsB}: {d}");
        // docs/determinism.md: at most 1e-5 of the largest |value|, top-1 always the same.
        Assert.That(d.Logits, Is.LessThanOrEqualTo(1e-5 * d.LogitScale));
        Assert.That(d.ResidPost, Is.LessThanOrEqualTo(1e-5 * d.ResidScale));
        Assert.That(d.Top1Agreement, Is.EqualTo(1.0));
    }

    [Test]
    public void Forward_Fp16VersusFp32Export_WithinDocumentedTolerance()
    {
        using var tmp = new TempDir();
        using var a = ModelSession.Open(TinyExport(tmp, ExportDType.Fp32));
        using var b = ModelSession.Open(TinyExport(tmp, ExportDType.Fp16));
        var d = Compare(a, b, Prompts);
        TestContext.Out.WriteLine($"fp32 vs fp16: {d}");
        // docs/determinism.md: fp16 stays within 2% of the largest |value| on these random models.
        Assert.That(d.Logits, Is.LessThanOrEqualTo(0.02 * d.LogitScale));
        Assert.That(d.ResidPost, Is.LessThanOrEqualTo(0.02 * d.ResidScale));
    }

    [Test]
    public void Family_ThreadsAndFp16_Measured()
    {
        using var tmp = new TempDir();
        var fp32 = ShippedFamily.Exported("base");
        var hf = ShippedFamily.Checkpoint("base");
        ModelExporter.Export(hf, tmp.Sub("fp16"), new ExportOptions { DType = ExportDType.Fp16, HashSource = false, LayerGraphs = false });
        var prompts = MakePrompts(1024);
        using var one = ModelSession.Open(fp32, new SessionConfig { Threads = 1 });
        using var two = ModelSession.Open(fp32, new SessionConfig { Threads = 2 });
        using var again = ModelSession.Open(fp32, new SessionConfig { Threads = 2 });
        using var half = ModelSession.Open(tmp.Sub("fp16"), new SessionConfig { Threads = 2 });
        var same = Compare(two, again, prompts);
        var threads = Compare(one, two, prompts);
        var dtype = Compare(two, half, prompts);
        TestContext.Out.WriteLine($"family base, same config: {same}\nthreads 1 vs 2: {threads}\nfp32 vs fp16: {dtype}");
        Assert.That(same.Logits, Is.Zero);
        Assert.That(threads.Logits, Is.LessThanOrEqualTo(1e-5 * threads.LogitScale));
        Assert.That(dtype.Logits, Is.LessThanOrEqualTo(0.02 * dtype.LogitScale));
    }
}
