using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using OnnxInterp.Export;
using OnnxInterp.Export.Hooking;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Reference;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Export;

/// <summary>
/// `hook` on graphs without hook I/O: our exporter's plain output (fused or not) must give exactly what exporting with
/// hook I/O gives; a graph in the model builder's layout (fp32 and int4) must give the reference forward pass.
/// </summary>
public class HookRewriterTests
{
    const double Tolerance = 1e-4;

    public static IEnumerable<TestCaseData> PlainCases()
    {
        yield return new TestCaseData(new TinyCheckpointSpec("llama") { Seed = 51 }, false).SetName("Llama_Plain");
        yield return new TestCaseData(new TinyCheckpointSpec("qwen2") { SlidingWindow = 2, UseSlidingWindow = true, MaxWindowLayers = 1, Seed = 52 }, false).SetName("Qwen2_SlidingPlain");
        yield return new TestCaseData(new TinyCheckpointSpec("mistral") { SlidingWindow = 3, Seed = 53 }, true).SetName("Mistral_FusedPlain");
    }

    [TestCaseSource(nameof(PlainCases))]
    public void Hook_ExportWithoutHookIo_GivesTheOutputsOfExportingWithHookIo(TinyCheckpointSpec spec, bool fused)
    {
        var ckpt = TinyCheckpointFactory.Create(spec);
        using var tmp = new TempDir();
        var hf = TestCheckpoints.Write(ckpt, tmp.Sub("hf"));
        ModelExporter.Export(hf, tmp.Sub("plain"), ExportOptions.Plain with { Fused = fused, HashSource = false });
        ModelExporter.Export(hf, tmp.Sub("exported"), new ExportOptions { Fused = fused, HashSource = false, LayerGraphs = false });
        var result = HookRewriter.Hook(tmp.Sub("plain"), tmp.Sub("hooked"));
        using var exported = ModelSession.Open(tmp.Sub("exported"));
        using var hooked = ModelSession.Open(tmp.Sub("hooked"));

        var m = hooked.Manifest;
        Assert.That(m.Hooks, Is.EqualTo(exported.Manifest.Hooks), "hook points, outputs and injection inputs as the exporter names them");
        Assert.That(m.Inputs, Is.EquivalentTo(exported.Manifest.Inputs));
        Assert.That(m.Outputs, Is.EquivalentTo(exported.Manifest.Outputs));
        Assert.That(m.Config, Is.EqualTo(exported.Manifest.Config));
        Assert.That(m.HookedFrom, Does.Contain(fused ? "SkipSimplifiedLayerNormalization chain" : "residual Add chain"));
        Assert.That(m.Fused, Is.EqualTo(fused));
        Assert.That(result.Manifest.SourceHash, Does.StartWith("sha256:"));

        var rng = new Random(spec.Seed);
        var d = ckpt.Config.HiddenSize;
        var v = Enumerable.Range(0, d).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var request = ForwardRequest.FromPrompts([ExportFidelityTests.Tokens(rng, 8, 97), ExportFidelityTests.Tokens(rng, 5, 97)]) with { Hooks = ["*"] };
        foreach (var r in new[]
        {
            request,
            request with { Interventions = [Intervention.ProjectOut("blocks.1.hook_resid_pre", [v]), Intervention.Replace("blocks.0.hook_resid_post", v, rows: [1], positions: [-1]),
                Intervention.Scale("blocks.2.mlp.hook_post", 0f, positions: [2])] },
        })
        {
            var a = exported.Run(r);
            var b = hooked.Run(r);
            Assert.That(Compare.MaxAbsDiff(b.Logits.Data, a.Logits.Data), Is.LessThanOrEqualTo(1e-5), "logits");
            foreach (var (name, t) in a.Cache) Assert.That(Compare.MaxAbsDiff(b.Cache[name].Data, t.Data), Is.LessThanOrEqualTo(1e-5), name.ToString());
        }
    }

    /// <summary>The generated builder-layout graph itself, run raw: what the deployed model computes for one unpadded row.</summary>
    [TestCase(false)]
    [TestCase(true)]
    public void BuilderLayoutGraph_RawUnpaddedRow_MatchesReference(bool int4)
    {
        var q = int4 ? WeightQuantization.Int4() with { AccuracyLevel = 0 } : null;
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama") { Seed = 61 });
        using var tmp = new TempDir();
        var dir = BuilderLayoutModel.Write(ckpt, tmp.Sub("builder"), q);
        int[] tokens = [5, 9, 13, 40, 2, 77, 31];
        var reference = new ReferenceTransformer(ckpt.Config, q is null ? ckpt.Weights : QuantizedExportTests.Dequantized(ckpt, q))
            .Forward([tokens], [Enumerable.Repeat(1, 7).ToArray()], [Enumerable.Range(0, 7).ToArray()]);

        using var session = new InferenceSession(Path.Combine(dir, "model.onnx"));
        var names = new List<string> { "input_ids", "attention_mask" };
        var values = new List<OrtValue>
        {
            OrtValue.CreateTensorValueFromMemory(tokens.Select(t => (long)t).ToArray(), [1, 7]),
            OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, 7).ToArray(), [1, 7]),
        };
        for (int l = 0; l < ckpt.Config.NumLayers; l++)
            foreach (var kind in new[] { "key", "value" })
            {
                names.Add($"past_key_values.{l}.{kind}");
                values.Add(OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), [1, ckpt.Config.NumKvHeads, 0, ckpt.Config.HeadDim]));
            }
        using var results = session.Run(new RunOptions(), names, values, ["logits"]);
        var logits = new FloatTensor(results[0].GetTensorDataAsSpan<float>().ToArray(), 1, 7, ckpt.Config.VocabSize);
        foreach (var x in values) x.Dispose();
        Assert.That(Compare.MaxRelativeError(logits, reference.Logits, [Enumerable.Repeat(1, 7).ToArray()]), Is.LessThanOrEqualTo(Tolerance));
    }

    public static IEnumerable<TestCaseData> BuilderCases()
    {
        yield return new TestCaseData(new TinyCheckpointSpec("llama") { Seed = 62 }, null, true).SetName("Llama_Fp32");
        yield return new TestCaseData(new TinyCheckpointSpec("qwen2") { Seed = 63 }, null, false).SetName("Qwen2_Fp32_HookOutputsOnly");
        yield return new TestCaseData(new TinyCheckpointSpec("llama") { Seed = 64 }, WeightQuantization.Int4() with { AccuracyLevel = 0 }, true).SetName("Llama_Int4");
        yield return new TestCaseData(new TinyCheckpointSpec("mistral") { SlidingWindow = 3, Seed = 65 }, WeightQuantization.Int4(128) with { AccuracyLevel = 0 }, true).SetName("Mistral_Int4Block128_Window3");
    }

    /// <summary>The hooked builder-layout graph on a left-padded batch: the reference (on the dequantized weights for int4) in logits and every hook.</summary>
    [TestCaseSource(nameof(BuilderCases))]
    public void Hook_BuilderLayoutGraph_MatchesReferenceOnLeftPaddedBatch(TinyCheckpointSpec spec, WeightQuantization? q, bool injection)
    {
        var ckpt = TinyCheckpointFactory.Create(spec);
        using var tmp = new TempDir();
        BuilderLayoutModel.Write(ckpt, tmp.Sub("builder"), q);
        HookRewriter.Hook(tmp.Sub("builder"), tmp.Sub("hooked"), new HookOptions { InjectionInputs = injection });
        using var session = ModelSession.Open(tmp.Sub("hooked"));
        var m = session.Manifest;
        Assert.That(m.HookedFrom, Does.Contain("SkipSimplifiedLayerNormalization chain").And.Contain("genai_config.json").And.Contain("3 GroupQueryAttention"));
        Assert.That(m.Fused, Is.True);
        Assert.That(m.Quantization?.Bits, Is.EqualTo(q?.Bits));
        Assert.That(m.Config.IntermediateSize, Is.EqualTo(spec.IntermediateSize));
        Assert.That(m.Config.RopeTheta, Is.EqualTo(spec.RopeTheta).Within(1e-3 * spec.RopeTheta));
        Assert.That(m.Config.SlidingWindow, Is.EqualTo(spec.Family == "mistral" ? spec.SlidingWindow : null));
        Assert.That(m.Hooks.Select(h => h.Name.ToString()), Is.EqualTo(new[] { 0, 1, 2 }.SelectMany(l => new[]
            { $"blocks.{l}.hook_resid_pre", $"blocks.{l}.hook_resid_mid", $"blocks.{l}.mlp.hook_post", $"blocks.{l}.hook_resid_post" })));
        var ops = FusedExportTests.OpTypes(tmp.Sub("hooked"));
        Assert.That(ops, Does.Contain("GroupQueryAttention").And.Contain("RotaryEmbedding"));
        Assert.That(ops, injection ? Does.Not.Contain("SkipSimplifiedLayerNormalization") : Does.Contain("SkipSimplifiedLayerNormalization"));

        var rng = new Random(spec.Seed);
        var request = ForwardRequest.FromPrompts([ExportFidelityTests.Tokens(rng, 9, 97), ExportFidelityTests.Tokens(rng, 4, 97), ExportFidelityTests.Tokens(rng, 7, 97)]) with { Hooks = ["*"] };
        var actual = session.Run(request);
        var mask = request.AttentionMask!;
        var expected = new ReferenceTransformer(ckpt.Config, q is null ? ckpt.Weights : QuantizedExportTests.Dequantized(ckpt, q))
            .Forward(request.InputIds, mask, ExportFidelityTests.ForwardRequestPositions(mask));
        double logitError = Compare.MaxRelativeError(actual.Logits, expected.Logits, mask);
        TestContext.Out.WriteLine($"hooked builder layout: max relative error logits {logitError:E2}, hooks {expected.Hooks.Max(kv => Compare.MaxRelativeError(actual.Cache[kv.Key], kv.Value, mask)):E2}");
        Assert.That(logitError, Is.LessThanOrEqualTo(Tolerance), "logits");
        foreach (var (name, value) in expected.Hooks)
            Assert.That(Compare.MaxRelativeError(actual.Cache[name], value, mask), Is.LessThanOrEqualTo(Tolerance), name);
    }

    /// <summary>Generation (KV cache, batch of left-padded prompts) and an intervention on the hooked builder graph equal our own export's.</summary>
    [Test]
    public void Hook_BuilderLayoutGraph_GeneratesAndPatchesLikeOurExport()
    {
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("qwen2") { Seed = 66 });
        using var tmp = new TempDir();
        BuilderLayoutModel.Write(ckpt, tmp.Sub("builder"));
        HookRewriter.Hook(tmp.Sub("builder"), tmp.Sub("hooked"));
        ModelExporter.Export(TestCheckpoints.Write(ckpt, tmp.Sub("hf")), tmp.Sub("exported"), new ExportOptions { HashSource = false, LayerGraphs = false });
        using var hooked = ModelSession.Open(tmp.Sub("hooked"));
        using var exported = ModelSession.Open(tmp.Sub("exported"));
        var rng = new Random(3);
        int[][] prompts = [ExportFidelityTests.Tokens(rng, 7, 97), ExportFidelityTests.Tokens(rng, 3, 97), ExportFidelityTests.Tokens(rng, 5, 97)];
        var options = new GenerationOptions { MaxNewTokens = 10 };
        Assert.That(hooked.Generate(prompts, options).Tokens, Is.EqualTo(exported.Generate(prompts, options).Tokens));

        var v = Enumerable.Range(0, ckpt.Config.HiddenSize).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var request = ForwardRequest.FromPrompts(prompts) with { Hooks = ["*"], Interventions = [Intervention.Add("blocks.1.hook_resid_mid", v, 3f, positions: [-2, -1])] };
        var a = exported.Run(request);
        var b = hooked.Run(request);
        var mask = request.AttentionMask!;
        Assert.That(QuantizedExportTests.RelativeError(b.Logits, a.Logits, mask), Is.LessThanOrEqualTo(Tolerance));
        foreach (var k in a.Cache.Keys) Assert.That(QuantizedExportTests.RelativeError(b.Cache[k], a.Cache[k], mask), Is.LessThanOrEqualTo(Tolerance), k.ToString());
    }

    [Test]
    public void Hook_StreamLongerThanConfig_RefusedNamingTheNode()
    {
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama") { Seed = 70 });
        using var tmp = new TempDir();
        var dir = BuilderLayoutModel.Write(ckpt, tmp.Sub("builder"));
        var genai = File.ReadAllText(Path.Combine(dir, "genai_config.json")).Replace("\"num_hidden_layers\":3", "\"num_hidden_layers\":2");
        File.WriteAllText(Path.Combine(dir, "genai_config.json"), genai);
        var e = Assert.Throws<UnmappedGraphException>(() => HookRewriter.Hook(dir, tmp.Sub("out")))!;
        // Two layers end at layer 2's input norm; the stream goes on into its attention add.
        Assert.That(e.Node, Is.EqualTo("/model/layers.2/post_attention_layernorm/SkipLayerNorm"));
        Assert.That(e.Message, Does.Contain("continues past the 2 layers"));
        Assert.That(Directory.Exists(tmp.Sub("out")), Is.False);
    }

    [Test]
    public void Hook_ResidualAddReplaced_RefusedNamingTheNode()
    {
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama") { Seed = 71 });
        using var tmp = new TempDir();
        var dir = BuilderLayoutModel.Write(ckpt, tmp.Sub("builder"));
        // Layer 1's MLP output no longer comes from a projection: a Sigmoid sits between the down projection and the add.
        Edit(dir, g =>
        {
            var down = g.Node.First(n => n.Name == "/model/layers.1/mlp/down_proj/MatMul");
            var sig = new NodeProto { OpType = "Sigmoid", Name = "/model/layers.1/mlp/extra/Sigmoid" };
            sig.Input.Add(down.Output[0]);
            sig.Output.Add("extra");
            g.Node.Add(sig);
            g.Node.First(n => n.Name == "/model/layers.2/input_layernorm/SkipLayerNorm").Input[1] = "extra";
        });
        var e = Assert.Throws<UnmappedGraphException>(() => HookRewriter.Hook(dir, tmp.Sub("out")))!;
        Assert.That(e.Node, Is.EqualTo("/model/layers.1/mlp/extra/Sigmoid"));
        Assert.That(e.Message, Does.Contain("layer 1's MLP residual add"));
    }

    [TestCase("../outside.data")]
    [TestCase("/etc/passwd")]
    [TestCase("sub/../../x.data")]
    public void Hook_ExternalDataOutsideTheFolder_Refused(string location)
    {
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama") { NumLayers = 1, Seed = 72 });
        using var tmp = new TempDir();
        var dir = BuilderLayoutModel.Write(ckpt, tmp.Sub("builder"));
        Edit(dir, g => g.Initializer.First(t => t.Name == "model.embed_tokens.weight").ExternalData.First(x => x.Key == "location").Value = location);
        var e = Assert.Throws<InvalidFileException>(() => HookRewriter.Hook(dir, tmp.Sub("out")))!;
        Assert.That(e.Field, Is.EqualTo("external_data.location"));
        Assert.That(e.Value, Is.EqualTo(location));
    }

    [Test]
    public void Hook_AlreadyHookedGraph_Refused()
    {
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama") { NumLayers = 1, Seed = 73 });
        using var tmp = new TempDir();
        var dir = TestCheckpoints.Export(ckpt, tmp, new ExportOptions { HashSource = false, LayerGraphs = false });
        Assert.Throws<InvalidArgumentException>(() => HookRewriter.Hook(dir, tmp.Sub("out")));
    }

    static void Edit(string dir, Action<GraphProto> edit)
    {
        var path = Path.Combine(dir, "model.onnx");
        ModelProto model;
        using (var fs = File.OpenRead(path)) model = ModelProto.Parser.ParseFrom(fs);
        edit(model.Graph);
        File.WriteAllBytes(path, model.ToByteArray());
    }
}
