using Onnx;
using OnnxInterp.Export;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Reference;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Export;

/// <summary>
/// The fused deployment form (RotaryEmbedding, GroupQueryAttention, (Skip)SimplifiedLayerNormalization) against the
/// independent reference, within 1e-4 like the plain graph, on left-padded batches and with the KV cache.
/// </summary>
public class FusedExportTests
{
    const double Tolerance = 1e-4;

    public static IEnumerable<TestCaseData> Cases()
    {
        yield return new TestCaseData(new TinyCheckpointSpec("llama"), true).SetName("Llama_Gqa_Injection");
        yield return new TestCaseData(new TinyCheckpointSpec("llama") { Seed = 3 }, false).SetName("Llama_Gqa_HookOutputsOnly");
        yield return new TestCaseData(new TinyCheckpointSpec("llama") { Tied = true, RopeScaling = TinyCheckpointSpec.Llama3Scaling, Seed = 7 }, true).SetName("Llama_TiedLlama3Rope");
        yield return new TestCaseData(new TinyCheckpointSpec("mistral") { SlidingWindow = 3, Seed = 10 }, false).SetName("Mistral_SlidingWindow3");
        yield return new TestCaseData(new TinyCheckpointSpec("qwen2") { SlidingWindow = 2, UseSlidingWindow = true, MaxWindowLayers = 1, NumKvHeads = 1, Seed = 12 }, true).SetName("Qwen2_SlidingFromLayer1Mqa");
    }

    [TestCaseSource(nameof(Cases))]
    public void ExportFused_LeftPaddedBatch_MatchesReferenceInLogitsAndEveryHook(TinyCheckpointSpec spec, bool injection)
    {
        var ckpt = TinyCheckpointFactory.Create(spec);
        using var tmp = new TempDir();
        var dir = TestCheckpoints.Export(ckpt, tmp, new ExportOptions { HashSource = false, Fused = true, InjectionInputs = injection });
        var ops = OpTypes(dir);
        Assert.That(ops, Does.Contain("GroupQueryAttention").And.Contain("RotaryEmbedding").And.Not.Contain("Softmax"));
        Assert.That(ops, injection ? Does.Contain("SimplifiedLayerNormalization") : Does.Contain("SkipSimplifiedLayerNormalization"));
        using var session = ModelSession.Open(dir);
        Assert.That(session.Manifest.Fused, Is.True);

        var rng = new Random(spec.Seed);
        int[][] prompts = [ExportFidelityTests.Tokens(rng, 9, spec.VocabSize), ExportFidelityTests.Tokens(rng, 5, spec.VocabSize), ExportFidelityTests.Tokens(rng, 7, spec.VocabSize)];
        var request = ForwardRequest.FromPrompts(prompts) with { Hooks = ["*"] };
        var actual = session.Run(request);
        var mask = request.AttentionMask!;
        var expected = new ReferenceTransformer(ckpt.Config, ckpt.Weights).Forward(request.InputIds, mask, ExportFidelityTests.ForwardRequestPositions(mask));

        Assert.That(actual.Cache.Keys.Select(k => k.ToString()), Is.EquivalentTo(expected.Hooks.Keys), "hook names");
        double logitError = Compare.MaxRelativeError(actual.Logits, expected.Logits, mask);
        TestContext.Out.WriteLine($"fused: max relative error logits {logitError:E2}, hooks {expected.Hooks.Max(kv => Compare.MaxRelativeError(actual.Cache[kv.Key], kv.Value, mask)):E2}");
        Assert.That(logitError, Is.LessThanOrEqualTo(Tolerance), "logits");
        foreach (var (name, value) in expected.Hooks)
            Assert.That(Compare.MaxRelativeError(actual.Cache[name], value, mask), Is.LessThanOrEqualTo(Tolerance), name);
    }

    [TestCase(1)]
    [TestCase(3)]
    public void ExportFused_KvCacheContinuation_MatchesFullRun(int batch)
    {
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("mistral") { SlidingWindow = 4, Seed = 5 });
        using var tmp = new TempDir();
        using var session = ModelSession.Open(TestCheckpoints.Export(ckpt, tmp, new ExportOptions { HashSource = false, Fused = true }));
        var rng = new Random(9);
        var rows = Enumerable.Range(0, batch).Select(b => ExportFidelityTests.Tokens(rng, 11 - b, 97)).ToArray();
        var full = ForwardRequest.FromPrompts(rows) with { Hooks = ["blocks.2.hook_resid_post"] };
        var whole = session.Run(full);
        const int prefix = 6;
        var mask = full.AttentionMask!;
        var positions = ExportFidelityTests.ForwardRequestPositions(mask);
        var first = session.Run(new ForwardRequest(full.InputIds.Select(r => r[..prefix]).ToArray())
        {
            AttentionMask = mask.Select(r => r[..prefix]).ToArray(), PositionIds = positions.Select(r => r[..prefix]).ToArray(), ReturnPresent = true,
        });
        var rest = session.Run(new ForwardRequest(full.InputIds.Select(r => r[prefix..]).ToArray())
        {
            AttentionMask = mask, PositionIds = positions.Select(r => r[prefix..]).ToArray(), Past = first.Present, Hooks = ["blocks.2.hook_resid_post"],
        });
        int seq = full.InputIds[0].Length;
        double worst = 0;
        for (int b = 0; b < batch; b++)
            for (int s = prefix; s < seq; s++)
            {
                worst = Math.Max(worst, Compare.MaxAbsDiff(rest.Logits.Vector(b, s - prefix), whole.Logits.Vector(b, s)));
                worst = Math.Max(worst, Compare.MaxAbsDiff(rest.Cache["blocks.2.hook_resid_post"].Vector(b, s - prefix), whole.Cache["blocks.2.hook_resid_post"].Vector(b, s)));
            }
        TestContext.Out.WriteLine($"batch {batch}: KV-cached continuation vs full run, max |diff| {worst:E2}");
        Assert.That(worst, Is.LessThanOrEqualTo(1e-4));
    }

    /// <summary>A multi-token step on a cache with per-row interventions: the fused graph runs it row by row, the plain one at once.</summary>
    [Test]
    public void ExportFused_ContinuationWithRowInterventions_EqualsPlainExport()
    {
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama") { Seed = 29 });
        using var tmp = new TempDir();
        var hf = TestCheckpoints.Write(ckpt, tmp.Sub("hf"));
        ModelExporter.Export(hf, tmp.Sub("plain"), new ExportOptions { HashSource = false, LayerGraphs = false });
        ModelExporter.Export(hf, tmp.Sub("fused"), new ExportOptions { HashSource = false, LayerGraphs = false, Fused = true });
        using var plain = ModelSession.Open(tmp.Sub("plain"));
        using var fused = ModelSession.Open(tmp.Sub("fused"));
        var rng = new Random(12);
        var full = ForwardRequest.FromPrompts([ExportFidelityTests.Tokens(rng, 9, 97), ExportFidelityTests.Tokens(rng, 7, 97)]);
        var mask = full.AttentionMask!;
        var positions = ExportFidelityTests.ForwardRequestPositions(mask);
        var prefix = new ForwardRequest(full.InputIds.Select(r => r[..5]).ToArray())
            { AttentionMask = mask.Select(r => r[..5]).ToArray(), PositionIds = positions.Select(r => r[..5]).ToArray(), ReturnPresent = true };
        var v = Enumerable.Range(0, 64).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        ForwardRequest Rest(KvCache past) => new(full.InputIds.Select(r => r[5..]).ToArray())
        {
            AttentionMask = mask, PositionIds = positions.Select(r => r[5..]).ToArray(), Past = past, Hooks = ["*"], ReturnPresent = true,
            Interventions = [Intervention.Add("blocks.1.hook_resid_mid", v, 2f, rows: [1]), Intervention.Scale("blocks.0.mlp.hook_post", 0f, rows: [0], positions: [-1])],
        };
        var a = plain.Run(Rest(plain.Run(prefix).Present!));
        var b = fused.Run(Rest(fused.Run(prefix).Present!));
        var restMask = Enumerable.Range(0, 2).Select(_ => Enumerable.Repeat(1, 4).ToArray()).ToArray();
        Assert.That(QuantizedExportTests.RelativeError(b.Logits, a.Logits, restMask), Is.LessThanOrEqualTo(Tolerance));
        foreach (var k in a.Cache.Keys) Assert.That(QuantizedExportTests.RelativeError(b.Cache[k], a.Cache[k], restMask), Is.LessThanOrEqualTo(Tolerance), k.ToString());
        // Keys at padded positions come from fully masked attention rows, which the two attention forms fill differently; nothing reads them.
        for (int l = 0; l < ckpt.Config.NumLayers; l++)
            for (int row = 0; row < 2; row++)
                for (int h = 0; h < ckpt.Config.NumKvHeads; h++)
                    for (int t = 0; t < 9; t++)
                        if (mask[row][t] == 1)
                            Assert.That(Compare.MaxAbsDiff(b.Present!.Keys[l].Vector(row, h, t), a.Present!.Keys[l].Vector(row, h, t)), Is.LessThanOrEqualTo(1e-4), $"present key {l}");
        Assert.Throws<InvalidArgumentException>(() => fused.Run(Rest(fused.Run(prefix).Present!) with { Interventions = [Intervention.Add("blocks.1.hook_resid_mid", v, rows: [2])] }));
    }

    [Test]
    public void ExportFused_GreedyGeneration_EqualsPlainExport()
    {
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("qwen2") { Seed = 13 });
        using var tmp = new TempDir();
        var hf = TestCheckpoints.Write(ckpt, tmp.Sub("hf"));
        ModelExporter.Export(hf, tmp.Sub("plain"), new ExportOptions { HashSource = false, LayerGraphs = false });
        ModelExporter.Export(hf, tmp.Sub("fused"), new ExportOptions { HashSource = false, LayerGraphs = false, Fused = true });
        using var plain = ModelSession.Open(tmp.Sub("plain"));
        using var fused = ModelSession.Open(tmp.Sub("fused"));
        var rng = new Random(2);
        int[][] prompts = [ExportFidelityTests.Tokens(rng, 8, 97), ExportFidelityTests.Tokens(rng, 3, 97), ExportFidelityTests.Tokens(rng, 6, 97)];
        var options = new GenerationOptions { MaxNewTokens = 12 };
        var a = plain.Generate(prompts, options).Tokens;
        var b = fused.Generate(prompts, options).Tokens;
        Assert.That(b, Is.EqualTo(a));
    }

    [Test]
    public void ExportFused_Intervention_MatchesPlainExport()
    {
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama") { Seed = 17 });
        using var tmp = new TempDir();
        var hf = TestCheckpoints.Write(ckpt, tmp.Sub("hf"));
        ModelExporter.Export(hf, tmp.Sub("plain"), new ExportOptions { HashSource = false });
        ModelExporter.Export(hf, tmp.Sub("fused"), new ExportOptions { HashSource = false, Fused = true });
        using var plain = ModelSession.Open(tmp.Sub("plain"));
        using var fused = ModelSession.Open(tmp.Sub("fused"));
        var rng = new Random(8);
        var direction = Enumerable.Range(0, 64).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var request = ForwardRequest.FromPrompts([ExportFidelityTests.Tokens(rng, 7, 97), ExportFidelityTests.Tokens(rng, 4, 97)]) with
        {
            Hooks = ["*"],
            Interventions = [Intervention.ProjectOut("blocks.1.hook_resid_mid", [direction]), Intervention.Add("blocks.0.hook_resid_post", direction, 2f, positions: [-1])],
        };
        var a = plain.Run(request);
        var b = fused.Run(request);
        var mask = request.AttentionMask!;
        double worst = QuantizedExportTests.RelativeError(b.Logits, a.Logits, mask);
        foreach (var k in a.Cache.Keys) worst = Math.Max(worst, QuantizedExportTests.RelativeError(b.Cache[k], a.Cache[k], mask));
        Assert.That(worst, Is.LessThanOrEqualTo(Tolerance));
    }

    /// <summary>The fused export's layer graphs (fused too) chain to the whole model, also restarted on a KV cache.</summary>
    [Test]
    public void ExportFused_LayerGraphs_ChainToTheWholeModel()
    {
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama") { Seed = 19 });
        using var tmp = new TempDir();
        using var model = ModelSession.Open(TestCheckpoints.Export(ckpt, tmp, new ExportOptions { HashSource = false, Fused = true, Quantization = WeightQuantization.Int4() }));
        Assert.That(model.HasLayerGraphs);
        int[] tokens = [3, 14, 15, 92, 65, 35, 89, 79];
        int kv = ckpt.Config.NumKvHeads, hd = ckpt.Config.HeadDim;
        var full = model.Run(new ForwardRequest([tokens]) { Hooks = ["*"], ReturnPresent = true });
        var h = full[HookName.ResidPre(0)];
        int[][] mask = [Enumerable.Repeat(1, 8).ToArray()], pos = [Enumerable.Range(0, 8).ToArray()];
        for (int l = 0; l < ckpt.Config.NumLayers; l++)
        {
            h = model.RunLayer(l, h, FloatTensor.Zeros(1, kv, 0, hd), FloatTensor.Zeros(1, kv, 0, hd), mask, pos);
            Assert.That(Compare.MaxAbsDiff(h.Data, full[HookName.ResidPost(l)].Data), Is.LessThanOrEqualTo(1e-5), $"layer {l}");
        }
        Assert.That(Compare.MaxAbsDiff(model.RunHead(h).Data, full.Logits.Data), Is.LessThanOrEqualTo(1e-5));
        var start = FloatTensor.Zeros(1, 3, ckpt.Config.HiddenSize);
        for (int j = 0; j < 3; j++) full[HookName.ResidPost(1)].Vector(0, 5 + j).CopyTo(start.Vector(0, j));
        var top = model.RunLayer(2, start, KvCache.Slice(full.Present!.Keys[2], 0, 5, 1), KvCache.Slice(full.Present!.Values[2], 0, 5, 1), mask, [[5, 6, 7]]);
        for (int j = 0; j < 3; j++)
            Assert.That(Compare.MaxAbsDiff(top.Vector(0, j), full[HookName.ResidPost(2)].Vector(0, 5 + j)), Is.LessThanOrEqualTo(1e-5));
    }

    /// <summary>Fused and quantized together: the reference on the dequantized weights, at fp32 compute.</summary>
    [Test]
    public void ExportFusedInt4_MatchesReferenceOnDequantizedWeights()
    {
        var q = WeightQuantization.Int4(32) with { AccuracyLevel = 0 };
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("qwen2") { Seed = 23 });
        using var tmp = new TempDir();
        // Without injection inputs: the builder's op set, SkipSimplifiedLayerNormalization and no float MatMul.
        var dir = TestCheckpoints.Export(ckpt, tmp, new ExportOptions { HashSource = false, Fused = true, Quantization = q, InjectionInputs = false });
        Assert.That(OpTypes(dir), Does.Contain("MatMulNBits").And.Contain("SkipSimplifiedLayerNormalization").And.Not.Contain("MatMul"));
        using var session = ModelSession.Open(dir);
        var rng = new Random(6);
        var request = ForwardRequest.FromPrompts([ExportFidelityTests.Tokens(rng, 9, 97), ExportFidelityTests.Tokens(rng, 4, 97)]) with { Hooks = ["*"] };
        var actual = session.Run(request);
        var mask = request.AttentionMask!;
        var expected = new ReferenceTransformer(ckpt.Config, QuantizedExportTests.Dequantized(ckpt, q))
            .Forward(request.InputIds, mask, ExportFidelityTests.ForwardRequestPositions(mask));
        Assert.That(Compare.MaxRelativeError(actual.Logits, expected.Logits, mask), Is.LessThanOrEqualTo(Tolerance));
        foreach (var (name, value) in expected.Hooks)
            Assert.That(Compare.MaxRelativeError(actual.Cache[name], value, mask), Is.LessThanOrEqualTo(Tolerance), name);
    }

    internal static List<string> OpTypes(string dir)
    {
        using var fs = File.OpenRead(Path.Combine(dir, ModelExporter.ModelFile));
        return ModelProto.Parser.ParseFrom(fs).Graph.Node.Select(n => n.OpType).Distinct().ToList();
    }
}
