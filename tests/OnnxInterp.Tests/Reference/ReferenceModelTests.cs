using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Reference;

/// <summary>
/// The two implementations of <see cref="IHookedModel"/> agree: <see cref="ReferenceModel"/> on a tiny random checkpoint
/// and <see cref="ModelSession"/> on its export, in logits, every hook, each intervention, capture and logit positions,
/// the KV cache and generation, within 1e-4 relative (at real positions; padding means nothing in either).
/// </summary>
[TestFixtureSource(nameof(Specs))]
public class ReferenceModelTests(TinyCheckpointSpec spec)
{
    const double Tolerance = 1e-4;

    /// <summary>Both 3 layers, hidden 64, 96 neurons: the interventions below are written for that shape.</summary>
    public static IEnumerable<TestFixtureData> Specs()
    {
        yield return new TestFixtureData(new TinyCheckpointSpec("llama")).SetArgDisplayNames("LlamaGqa");
        yield return new TestFixtureData(new TinyCheckpointSpec("qwen2") { SlidingWindow = 4, UseSlidingWindow = true, MaxWindowLayers = 1, NumKvHeads = 1, Seed = 12 })
            .SetArgDisplayNames("Qwen2SlidingMqa");
    }

    TempDir _tmp = null!;
    ModelSession _onnx = null!;
    ReferenceModel _ref = null!;

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        var dir = TestCheckpoints.Export(TinyCheckpointFactory.Create(spec), _tmp);
        _onnx = ModelSession.Open(dir);
        _ref = ReferenceModel.Open(_tmp.Sub("hf"));
    }

    [OneTimeTearDown]
    public void TearDown()
    {
        _onnx.Dispose();
        _tmp.Dispose();
    }

    int[][] Prompts(int seed, params int[] lengths)
    {
        var rng = new Random(seed);
        // Ids from 3 up: no BOS/EOS, so generation does not stop at once.
        return lengths.Select(n => Enumerable.Range(0, n).Select(_ => rng.Next(3, spec.VocabSize)).ToArray()).ToArray();
    }

    /// <summary>Both runs; then logits and every captured hook agree at the rows of <paramref name="real"/> that are 1.</summary>
    (ForwardResult Onnx, ForwardResult Ref) RunBoth(ForwardRequest request, int[][]? real = null)
    {
        var onnx = _onnx.Run(request);
        var reference = _ref.Run(request);
        Assert.That(reference.Cache.Keys, Is.EqualTo(onnx.Cache.Keys), "captured hooks");
        AssertClose(onnx.Logits, reference.Logits, real, "logits");
        foreach (var (name, t) in onnx.Cache) AssertClose(t, reference[name], real, name.ToString());
        return (onnx, reference);
    }

    static void AssertClose(FloatTensor onnx, FloatTensor reference, int[][]? real, string what, double tolerance = Tolerance)
    {
        Assert.That(reference.Shape, Is.EqualTo(onnx.Shape), what + " shape");
        double worst = 0;
        for (int b = 0; b < onnx.Shape[0]; b++)
            for (int s = 0; s < onnx.Shape[1]; s++)
            {
                if (real is not null && real[b][s] == 0) continue;
                var e = reference.Vector(b, s);
                var a = onnx.Vector(b, s);
                double scale = 1;
                foreach (var x in e) scale = Math.Max(scale, Math.Abs(x));
                for (int i = 0; i < e.Length; i++) worst = Math.Max(worst, Math.Abs(a[i] - e[i]) / scale);
            }
        Assert.That(worst, Is.LessThanOrEqualTo(tolerance), what);
    }

    static int[][] Ones(int rows, int length) => Enumerable.Range(0, rows).Select(_ => Enumerable.Repeat(1, length).ToArray()).ToArray();

    [Test]
    public void Contract_ConfigHooksWeights_AsTheExport()
    {
        Assert.That(_ref.Config, Is.EqualTo(_onnx.Config));
        Assert.That(_ref.Hooks, Is.EqualTo(_onnx.Hooks));
        Assert.That(_ref.Layers, Is.Null);
        Assert.That(_ref.Weights.Embedding().Data, Is.EqualTo(_onnx.Weights.Embedding().Data));
        Assert.That(_ref.Weights.Unembedding().Data, Is.EqualTo(_onnx.Weights.Unembedding().Data));
        Assert.That(_ref.Weights.FinalNorm().Data, Is.EqualTo(_onnx.Weights.FinalNorm().Data));
        Assert.That(_ref.Weights.MlpDown(1).Data, Is.EqualTo(_onnx.Weights.MlpDown(1).Data));
    }

    [Test]
    public void Run_LeftPaddedBatch_LogitsAndEveryHookAgree()
    {
        var request = ForwardRequest.FromPrompts(Prompts(1, 9, 5, 7)) with { Hooks = ["*"] };
        var (onnx, _) = RunBoth(request, request.AttentionMask);
        Assert.That(onnx.Cache, Has.Count.EqualTo(4 * spec.NumLayers));
    }

    [Test]
    public void Run_GivenPositionsAndPatterns_Agree()
    {
        var ids = Prompts(2, 6, 6);
        RunBoth(new ForwardRequest(ids) { PositionIds = [[5, 6, 7, 8, 9, 10], [0, 2, 4, 6, 8, 10]], Hooks = ["blocks.1.*", "blocks.*.hook_resid_post"] });
    }

    [Test]
    public void Run_CaptureAndLogitPositions_SliceAlike()
    {
        var (onnx, _) = RunBoth(new ForwardRequest(Prompts(3, 8, 8)) { Hooks = ["blocks.*.mlp.hook_post"], CapturePositions = [0, -1, 2], LogitPositions = [-1, 1] });
        Assert.That(onnx.Logits.Shape, Is.EqualTo(new[] { 2, 2, spec.VocabSize }));
        Assert.That(onnx.Cache.Values.First().Shape, Is.EqualTo(new[] { 2, 3, spec.IntermediateSize }));
    }

    public static IEnumerable<TestCaseData> Interventions()
    {
        var rng = new Random(5);
        float[] V(int n, double std = 1) => Enumerable.Range(0, n).Select(_ => (float)(std * (rng.NextDouble() * 2 - 1))).ToArray();
        const int d = 64, im = 96;
        yield return new TestCaseData((object)new[] { Intervention.Replace("blocks.1.hook_resid_pre", V(d), rows: [1], positions: [-2]) }).SetName("Replace_OneRowNegativePosition");
        yield return new TestCaseData((object)new[] { Intervention.Add("blocks.0.hook_resid_mid", V(d), factor: 3f) }).SetName("Add_FactorEverywhere");
        yield return new TestCaseData((object)new[] { Intervention.Scale("blocks.2.mlp.hook_post", 0f, positions: [1, 3]) }).SetName("Scale_FactorMlp");
        yield return new TestCaseData((object)new[] { new Intervention("blocks.1.mlp.hook_post", InterventionOp.Scale, V(im, 2)) }).SetName("Scale_Vector");
        yield return new TestCaseData((object)new[] { Intervention.ProjectOut("blocks.1.hook_resid_post", [V(d), V(d)], rows: [0], positions: [0, -1]) })
            .SetName("ProjectOut_TwoDirectionsOrthonormalised");
        var u = V(d);
        yield return new TestCaseData((object)new[]
        {
            Intervention.Add("blocks.2.hook_resid_pre", V(d), factor: 2f, positions: [2]),
            Intervention.ProjectOut("blocks.2.hook_resid_pre", [u]),
            Intervention.Scale("blocks.2.hook_resid_pre", 0.5f, rows: [1]),
            Intervention.Replace("blocks.2.hook_resid_pre", V(d), rows: [0], positions: [-1]),
            Intervention.ProjectOut("blocks.2.hook_resid_pre", [u.Select(x => 2 * x).ToArray(), V(d)]),
            Intervention.Add("blocks.0.hook_resid_post", V(d)),
        }).SetName("Composed_ProjectOutFirstThenListOrder");
    }

    [TestCaseSource(nameof(Interventions))]
    public void Run_Intervention_Agrees(Intervention[] interventions)
    {
        var request = new ForwardRequest(Prompts(4, 7, 7)) { Hooks = ["*"], Interventions = interventions };
        var (_, changed) = RunBoth(request);
        var clean = _ref.Run(request with { Interventions = null });
        Assert.That(changed.Logits.Data, Is.Not.EqualTo(clean.Logits.Data), "the intervention changes something");
    }

    [Test]
    public void Run_PastFromPresent_AgreesAndEqualsTheFullRun()
    {
        var ids = Prompts(6, 10, 10);
        var mask = Ones(2, 10);
        mask[1][0] = mask[1][1] = 0;  // row 1 left-padded by two
        int[][] prefix = ids.Select(r => r[..6]).ToArray(), suffix = ids.Select(r => r[6..]).ToArray();
        var first = new ForwardRequest(prefix) { AttentionMask = mask.Select(r => r[..6]).ToArray(), ReturnPresent = true };
        var (onnxFirst, refFirst) = RunBoth(first, first.AttentionMask);
        for (int l = 0; l < spec.NumLayers; l++)
        {
            AssertKv(onnxFirst.Present!.Keys[l], refFirst.Present!.Keys[l], mask, $"keys {l}");
            AssertKv(onnxFirst.Present!.Values[l], refFirst.Present!.Values[l], mask, $"values {l}");
        }
        var steer = Intervention.Add("blocks.1.hook_resid_mid", Enumerable.Repeat(0.3f, spec.HiddenSize).ToArray(), positions: [-1]);
        var second = new ForwardRequest(suffix) { AttentionMask = mask, Hooks = ["*"], Interventions = [steer] };
        RunBoth(second with { Past = onnxFirst.Present });
        var resumed = _ref.Run(second with { Past = refFirst.Present });

        // The reference resumed from its own cache equals the reference run on the whole sequence (the cache is fp32).
        var whole = _ref.Run(new ForwardRequest(ids) { AttentionMask = mask, Hooks = ["*"], Interventions = [steer] });
        var tail = Enumerable.Range(6, 4).ToArray();
        AssertClose(Slice(whole.Logits, tail), resumed.Logits, null, "resumed logits", 1e-5);
        foreach (var (name, t) in resumed.Cache) AssertClose(Slice(whole[name], tail), t, null, name.ToString(), 1e-5);
    }

    [Test]
    public void Run_PastTakenAndRepeated_Agrees()
    {
        var ids = Prompts(7, 9)[0];
        var onnxPresent = _onnx.Run(new ForwardRequest([ids]) { ReturnPresent = true }).Present!;
        var refPresent = _ref.Run(new ForwardRequest([ids]) { ReturnPresent = true }).Present!;
        var rows = Enumerable.Range(0, 3).Select(_ => ids[5..]).ToArray();
        var request = new ForwardRequest(rows)
        {
            LogitPositions = [-1],
            Interventions = Enumerable.Range(0, 3).Select(l => Intervention.Scale(new HookName(HookKind.ResidPost, l % spec.NumLayers), 0.5f, rows: [l], positions: [0])).ToList(),
        };
        var onnx = _onnx.Run(request with { Past = onnxPresent.Take(0, 5, rows: 3) });
        var reference = _ref.Run(request with { Past = refPresent.Take(0, 5, rows: 3) });
        AssertClose(onnx.Logits, reference.Logits, null, "logits");
    }

    static FloatTensor Slice(FloatTensor t, int[] positions)
    {
        var r = FloatTensor.Zeros(t.Shape[0], positions.Length, t.Shape[2]);
        for (int b = 0; b < t.Shape[0]; b++)
            for (int j = 0; j < positions.Length; j++) t.Vector(b, positions[j]).CopyTo(r.Vector(b, j));
        return r;
    }

    static void AssertKv(FloatTensor onnx, FloatTensor reference, int[][] mask, string what)
    {
        Assert.That(reference.Shape, Is.EqualTo(onnx.Shape), what);
        for (int b = 0; b < onnx.Shape[0]; b++)
            for (int g = 0; g < onnx.Shape[1]; g++)
                for (int j = 0; j < onnx.Shape[2]; j++)
                {
                    if (mask[b][j] == 0) continue;
                    double scale = Math.Max(1, reference.Vector(b, g, j).ToArray().Max(Math.Abs));
                    Assert.That(Compare.MaxAbsDiff(onnx.Vector(b, g, j), reference.Vector(b, g, j)) / scale, Is.LessThanOrEqualTo(Tolerance), $"{what} [{b},{g},{j}]");
                }
    }

    public static IEnumerable<TestCaseData> Generations()
    {
        yield return new TestCaseData(new GenerationOptions { MaxNewTokens = 6 }).SetName("Greedy");
        yield return new TestCaseData(new GenerationOptions { MaxNewTokens = 6, Temperature = 1f, TopP = 0.9f, Seed = 3 }).SetName("Sampled_TopP");
        yield return new TestCaseData(new GenerationOptions
        {
            MaxNewTokens = 5, Temperature = 0.7f, Seed = 4, InterventionsFromStep = 1,
            Interventions = [Intervention.Add("blocks.1.hook_resid_post", Enumerable.Repeat(0.5f, 64).ToArray()), Intervention.Scale("blocks.0.mlp.hook_post", 2f, positions: [-1])],
        }).SetName("Sampled_InterventionsFromStep1");
        yield return new TestCaseData(new GenerationOptions
        {
            MaxNewTokens = 5,
            Interventions = [Intervention.ProjectOut("blocks.2.hook_resid_pre", [Enumerable.Range(0, 64).Select(i => (float)Math.Sin(i)).ToArray()]), Intervention.Replace("blocks.0.hook_resid_mid", new float[64], positions: [0])],
        }).SetName("Greedy_InterventionsFromThePrompt");
    }

    [TestCaseSource(nameof(Generations))]
    public void Generate_SameTokens(GenerationOptions options)
    {
        var prompts = Prompts(8, 6, 3, 5);
        var onnx = _onnx.Generate(prompts, options);
        // Stop at a token the greedy run makes, so a row stops early and goes on feeding padding.
        var stop = onnx.Tokens[1].Length > 2 ? onnx.Tokens[1][2] : 2;
        var reference = _ref.Generate(prompts, options);
        Assert.That(reference.Tokens, Is.EqualTo(onnx.Tokens));
        Assert.That(reference.Stopped, Is.EqualTo(onnx.Stopped));
        var stopping = options with { StopTokens = [stop] };
        var onnxStopping = _onnx.Generate(prompts, stopping);
        Assert.That(onnxStopping.Stopped, Has.Some.True);
        Assert.That(_ref.Generate(prompts, stopping).Tokens, Is.EqualTo(onnxStopping.Tokens));
    }

    [Test]
    public void Run_DeviceMemory_NotSupported()
    {
        var request = new ForwardRequest(Prompts(9, 3));
        Assert.That(() => _ref.Run(request with { DeviceOutputs = true }), Throws.TypeOf<NotSupportedException>().With.Message.Contains("DeviceOutputs"));
        using var device = _onnx.Run(request with { ReturnPresent = true, DeviceOutputs = true });
        Assert.That(() => _ref.Run(request with { DevicePast = device.DevicePresent, AttentionMask = Ones(1, 6) }),
            Throws.TypeOf<NotSupportedException>().With.Message.Contains("DevicePast"));
    }

    [Test]
    public void Run_BadRequests_RefusedAsTheSessionRefuses()
    {
        var ids = Prompts(10, 4);
        ForwardRequest[] bad =
        [
            new(ids) { LogitPositions = [4] },
            new(ids) { Hooks = ["blocks.99.*"] },
            new(ids) { Interventions = [Intervention.ProjectOut("blocks.0.mlp.hook_post", [new float[spec.IntermediateSize]])] },
            new(ids) { Interventions = [Intervention.Add("blocks.0.hook_resid_pre", new float[3])] },
            new(ids) { Interventions = [Intervention.Replace("blocks.0.hook_resid_pre", new float[spec.HiddenSize], rows: [1])] },
        ];
        foreach (var request in bad)
        {
            Assert.That(() => _onnx.Run(request), Throws.TypeOf<InvalidArgumentException>());
            Assert.That(() => _ref.Run(request), Throws.TypeOf<InvalidArgumentException>());
        }
    }
}
