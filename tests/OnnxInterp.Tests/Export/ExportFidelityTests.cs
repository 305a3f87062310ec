using OnnxInterp.Checkpoints;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Reference;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Export;

/// <summary>
/// The exported graph against the independent double-precision reference, on tiny random checkpoints of every
/// family and feature: logits and every hook within 1e-4 relative, on a left-padded batch.
/// </summary>
public class ExportFidelityTests
{
    const double Tolerance = 1e-4;

    public static IEnumerable<TestCaseData> Cases()
    {
        yield return new TestCaseData(new TinyCheckpointSpec("llama"), TensorDType.F32, 1).SetName("Llama_UntiedGqa");
        yield return new TestCaseData(new TinyCheckpointSpec("llama") { Tied = true, RopeScaling = TinyCheckpointSpec.Llama3Scaling, Seed = 7 }, TensorDType.BF16, 1).SetName("Llama_TiedLlama3RopeBf16");
        yield return new TestCaseData(new TinyCheckpointSpec("llama") { AttentionBias = true, MlpBias = true, Seed = 8 }, TensorDType.F16, 3).SetName("Llama_BiasesF16Sharded");
        yield return new TestCaseData(new TinyCheckpointSpec("llama") { RopeScaling = new RopeScalingSpec("linear", 2.0, 0, 0, 0), NumKvHeads = 4, Seed = 9 }, TensorDType.F32, 1).SetName("Llama_LinearRopeMha");
        yield return new TestCaseData(new TinyCheckpointSpec("mistral") { SlidingWindow = 3, Seed = 10 }, TensorDType.F32, 1).SetName("Mistral_SlidingWindow3");
        yield return new TestCaseData(new TinyCheckpointSpec("qwen2") { Tied = true, Seed = 11 }, TensorDType.F32, 2).SetName("Qwen2_TiedBiasesSharded");
        yield return new TestCaseData(new TinyCheckpointSpec("qwen2") { SlidingWindow = 2, UseSlidingWindow = true, MaxWindowLayers = 1, NumKvHeads = 1, Seed = 12 }, TensorDType.F32, 1).SetName("Qwen2_SlidingFromLayer1Mqa");
    }

    [TestCaseSource(nameof(Cases))]
    public void Export_LeftPaddedBatch_MatchesReferenceInLogitsAndEveryHook(TinyCheckpointSpec spec, TensorDType dtype, int shards)
    {
        var ckpt = TinyCheckpointFactory.Create(spec);
        using var tmp = new TempDir();
        var dir = TestCheckpoints.Export(ckpt, tmp, dtype: dtype, shards: shards);
        using var session = ModelSession.Open(dir);

        var rng = new Random(spec.Seed);
        int[][] prompts = [Tokens(rng, 9, spec.VocabSize), Tokens(rng, 5, spec.VocabSize), Tokens(rng, 7, spec.VocabSize)];
        var request = ForwardRequest.FromPrompts(prompts) with { Hooks = ["*"] };
        var actual = session.Run(request);

        var mask = request.AttentionMask!;
        var positions = ForwardRequestPositions(mask);
        var reference = new ReferenceTransformer(ckpt.Config, TestCheckpoints.Rounded(ckpt, dtype));
        var expected = reference.Forward(request.InputIds, mask, positions);

        Assert.That(actual.Cache.Keys.Select(k => k.ToString()), Is.EquivalentTo(expected.Hooks.Keys), "hook names");
        double logitError = Compare.MaxRelativeError(actual.Logits, expected.Logits, mask);
        TestContext.Out.WriteLine($"max relative error: logits {logitError:E2}, hooks {expected.Hooks.Max(kv => Compare.MaxRelativeError(actual.Cache[kv.Key], kv.Value, mask)):E2}");
        Assert.That(logitError, Is.LessThanOrEqualTo(Tolerance), "logits");
        foreach (var (name, value) in expected.Hooks)
            Assert.That(Compare.MaxRelativeError(actual.Cache[name], value, mask), Is.LessThanOrEqualTo(Tolerance), name);
    }

    /// <summary>
    /// fp16 export: weights and activations in half precision (ε = 2⁻¹⁰ ≈ 1e-3), statistics and softmax in fp32.
    /// Tolerance 1e-2 relative: about ten half-precision roundings accumulated over three layers.
    /// </summary>
    [TestCase("llama")]
    [TestCase("qwen2")]
    public void ExportFp16_MatchesReferenceWithinHalfPrecision(string family)
    {
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec(family) { Seed = 31 });
        using var tmp = new TempDir();
        var dir = TestCheckpoints.Export(ckpt, tmp, new OnnxInterp.Export.ExportOptions { DType = OnnxInterp.Export.ExportDType.Fp16 });
        using var session = ModelSession.Open(dir);
        Assert.That(session.Manifest.DType, Is.EqualTo(OnnxInterp.Export.ExportDType.Fp16));
        var rng = new Random(2);
        var request = ForwardRequest.FromPrompts([Tokens(rng, 8, 97), Tokens(rng, 5, 97)]) with { Hooks = ["*"] };
        var actual = session.Run(request);
        var mask = request.AttentionMask!;
        var expected = new ReferenceTransformer(ckpt.Config, TestCheckpoints.Rounded(ckpt, TensorDType.F16))
            .Forward(request.InputIds, mask, ForwardRequestPositions(mask));
        double logitError = Compare.MaxRelativeError(actual.Logits, expected.Logits, mask);
        TestContext.Out.WriteLine($"fp16 max relative error: logits {logitError:E2}");
        Assert.That(logitError, Is.LessThanOrEqualTo(1e-2), "logits");
        foreach (var (name, value) in expected.Hooks)
            Assert.That(Compare.MaxRelativeError(actual.Cache[name], value, mask), Is.LessThanOrEqualTo(1e-2), name);
    }

    [Test]
    public void Export_PlainGraph_GivesSameLogitsAsHookedGraph()
    {
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama") { Seed = 3 });
        using var tmp = new TempDir();
        var hf = TestCheckpoints.Write(ckpt, tmp.Sub("hf"));
        OnnxInterp.Export.ModelExporter.Export(hf, tmp.Sub("plain"), OnnxInterp.Export.ExportOptions.Plain);
        OnnxInterp.Export.ModelExporter.Export(hf, tmp.Sub("hooked"));
        using var plain = ModelSession.Open(tmp.Sub("plain"));
        using var hooked = ModelSession.Open(tmp.Sub("hooked"));
        var req = new ForwardRequest([[1, 5, 9, 13, 2]]);
        var a = plain.Run(req).Logits.Data;
        var b = hooked.Run(req).Logits.Data;
        Assert.That(Compare.MaxAbsDiff(a, b), Is.LessThanOrEqualTo(1e-5));
        Assert.That(plain.Manifest.Hooks.All(h => h.Output is null && h.Injection is null), Is.True);
    }

    internal static int[] Tokens(Random rng, int n, int vocab) => Enumerable.Range(0, n).Select(_ => rng.Next(vocab)).ToArray();

    /// <summary>Position ids as transformers derives them from the mask (written out here, independently of the library).</summary>
    internal static int[][] ForwardRequestPositions(int[][] mask) => mask.Select(row =>
    {
        var p = new int[row.Length];
        int c = -1;
        for (int s = 0; s < row.Length; s++) { c += row[s]; p[s] = row[s] == 0 ? 1 : c; }
        return p;
    }).ToArray();
}
