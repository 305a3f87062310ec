using System.Text.Json;
using OnnxInterp.Checkpoints;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Runtime;

public class SessionTests
{
    static TempDir _tmp = null!;
    static ModelSession _model = null!;

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        RandomCheckpoint.Write(_tmp.Sub("base-hf"), new RandomCheckpointSpec { Layers = 3, Seed = 1 });
        RandomCheckpoint.Write(_tmp.Sub("post-hf"), new RandomCheckpointSpec { Layers = 3, Seed = 2 });
        foreach (var m in new[] { "base", "post" })
            OnnxInterp.Export.ModelExporter.Export(_tmp.Sub(m + "-hf"), _tmp.Sub(m), new OnnxInterp.Export.ExportOptions { HashSource = false });
        _model = ModelSession.Open(_tmp.Sub("base"));
    }

    [OneTimeTearDown]
    public void TearDown()
    {
        _model.Dispose();
        _tmp.Dispose();
    }

    static readonly int[][] Prompts = [[256, 84, 104, 101, 32, 99, 105, 116, 121], [256, 72, 105], [256, 65, 66, 67, 68, 69]];

    [Test]
    public void Batch_LeftPadded_EqualsEachPromptAlone()
    {
        var batched = _model.Run(ForwardRequest.FromPrompts(Prompts) with { Hooks = ["*"] });
        int len = Prompts.Max(p => p.Length);
        for (int b = 0; b < Prompts.Length; b++)
        {
            var alone = _model.Run(new ForwardRequest([Prompts[b]]) { Hooks = ["*"] });
            int pad = len - Prompts[b].Length;
            for (int s = 0; s < Prompts[b].Length; s++)
            {
                Assert.That(Compare.MaxAbsDiff(batched.Logits.Vector(b, pad + s), alone.Logits.Vector(0, s)), Is.LessThanOrEqualTo(1e-5));
                foreach (var (name, t) in alone.Cache)
                    Assert.That(Compare.MaxAbsDiff(batched.Cache[name].Vector(b, pad + s), t.Vector(0, s)), Is.LessThanOrEqualTo(1e-5), name.ToString());
            }
        }
    }

    [Test]
    public void Capture_OnlyRequestedHooksAndPositions()
    {
        var full = _model.Run(ForwardRequest.FromPrompts(Prompts) with { Hooks = ["blocks.1.*"] });
        var last = _model.Run(ForwardRequest.FromPrompts(Prompts) with { Hooks = ["blocks.1.*"], CapturePositions = [-1, 0], LogitPositions = [-1] });
        Assert.That(last.Cache.Keys.Select(k => k.ToString()), Is.EquivalentTo(new[] { "blocks.1.hook_resid_pre", "blocks.1.hook_resid_mid", "blocks.1.mlp.hook_post", "blocks.1.hook_resid_post" }));
        Assert.That(last[HookName.ResidPost(1)].Shape, Is.EqualTo(new[] { 3, 2, 64 }));
        Assert.That(last.Logits.Shape, Is.EqualTo(new[] { 3, 1, 258 }));
        for (int b = 0; b < 3; b++)
        {
            Assert.That(last[HookName.ResidPost(1)].Vector(b, 0).ToArray(), Is.EqualTo(full[HookName.ResidPost(1)].Vector(b, 8).ToArray()));
            Assert.That(last[HookName.ResidPost(1)].Vector(b, 1).ToArray(), Is.EqualTo(full[HookName.ResidPost(1)].Vector(b, 0).ToArray()));
            Assert.That(last.Logits.Vector(b, 0).ToArray(), Is.EqualTo(full.Logits.Vector(b, 8).ToArray()));
        }
        Assert.Throws<KeyNotFoundException>(() => _ = last[HookName.ResidPost(2)]);
    }

    [Test]
    public void Interventions_RoundTripThroughJson()
    {
        IReadOnlyList<Intervention> ivs =
        [
            Intervention.Replace("blocks.0.hook_resid_post", [1f, 2f], rows: [0], positions: [-1]),
            Intervention.ProjectOut("blocks.1.hook_resid_pre", [[0.6f, 0.8f]]),
            Intervention.Scale("blocks.2.mlp.hook_post", 0.5f),
        ];
        var json = JsonSerializer.Serialize(ivs);
        Assert.That(json, Does.Contain("\"ProjectOut\""));
        var back = JsonSerializer.Deserialize<List<Intervention>>(json)!;
        Assert.That(JsonSerializer.Serialize(back), Is.EqualTo(json));
        Assert.That(back[1].Directions![0], Is.EqualTo(new[] { 0.6f, 0.8f }));
    }

    [Test]
    public void Pair_ActivationsFromOneDriveTheOther()
    {
        using var pair = ModelPair.Open(_tmp.Sub("base"), _tmp.Sub("post"));
        // The pair's tokenizer is the base folder's: BOS then one token per byte.
        Assert.That(pair.Tokenizer!.Encode("Hi"), Is.EqualTo(new[] { 256, 72, 105 }));
        var fromBase = pair.Base.Run(new ForwardRequest([Prompts[0]]) { Hooks = ["blocks.1.hook_resid_post"] })[HookName.ResidPost(1)];
        var post = pair.Post.Run(new ForwardRequest([Prompts[0]]) { Hooks = ["blocks.1.hook_resid_post"] });
        var patched = pair.Post.Run(new ForwardRequest([Prompts[0]])
        {
            Hooks = ["blocks.1.hook_resid_post"],
            Interventions = [Intervention.Replace("blocks.1.hook_resid_post", fromBase.Vector(0, 4).ToArray(), positions: [4])],
        });
        Assert.That(patched[HookName.ResidPost(1)].Vector(0, 4).ToArray(), Is.EqualTo(fromBase.Vector(0, 4).ToArray()));
        Assert.That(Compare.MaxAbsDiff(patched.Logits.Vector(0, 8), post.Logits.Vector(0, 8)), Is.GreaterThan(1e-4));
    }

    [Test]
    public void Pair_DifferentShapesOrVocabularies_ArePreciseErrors()
    {
        RandomCheckpoint.Write(_tmp.Sub("wide-hf"), new RandomCheckpointSpec { Layers = 3, HiddenSize = 32 });
        OnnxInterp.Export.ModelExporter.Export(_tmp.Sub("wide-hf"), _tmp.Sub("wide"), new OnnxInterp.Export.ExportOptions { HashSource = false });
        var e = Assert.Throws<IncompatibleModelsException>(() => ModelPair.Open(_tmp.Sub("base"), _tmp.Sub("wide")))!;
        Assert.That((e.Field, e.Value), Is.EqualTo(("hidden_size", "64 vs 32")));

        // Same shapes, one token renamed in the post model's tokenizer.json.
        var other = _tmp.Sub("renamed");
        CopyDir(_tmp.Sub("post"), other);
        var tok = Path.Combine(other, "tokenizer.json");
        File.WriteAllText(tok, File.ReadAllText(tok).Replace("\"A\": 65", "\"\\u00e5\": 65"));
        var v = Assert.Throws<IncompatibleModelsException>(() => ModelPair.Open(_tmp.Sub("base"), other))!;
        Assert.That(v.Field, Is.EqualTo("vocab[65]"));
    }

    [Test]
    public void Pair_PostModelAddsTokens_IsComparable_FewerTokensIsAnError()
    {
        // As Llama-3.1-Tulu-3-8B (vocab 128,264) against Llama-3.1-8B (128,256): post-training added ids past the base's.
        var baseSpec = new RandomCheckpointSpec { Layers = 2, HiddenSize = 32, VocabSize = 300 };
        RandomCheckpoint.Write(_tmp.Sub("v300-hf"), baseSpec);
        RandomCheckpoint.Write(_tmp.Sub("v308-hf"), baseSpec with { VocabSize = 308, Seed = 2 });
        OnnxInterp.Export.ModelExporter.Export(_tmp.Sub("v300-hf"), _tmp.Sub("v300"), new OnnxInterp.Export.ExportOptions { HashSource = false });
        OnnxInterp.Export.ModelExporter.Export(_tmp.Sub("v308-hf"), _tmp.Sub("v308"), new OnnxInterp.Export.ExportOptions { HashSource = false });
        using (var pair = ModelPair.Open(_tmp.Sub("v300"), _tmp.Sub("v308")))
            Assert.That(pair.Post.Manifest.Config.VocabSize, Is.EqualTo(308));
        var e = Assert.Throws<IncompatibleModelsException>(() => ModelPair.Open(_tmp.Sub("v308"), _tmp.Sub("v300")))!;
        Assert.That((e.Field, e.Value), Is.EqualTo(("vocab_size", "308 vs 300")));
    }

    [Test]
    public void Providers_CudaAbsenceIsReportedClearly_AndAutoFallsBackToCpu()
    {
        string? why = ExecutionProviders.ProbeCuda();
        if (why is null) Assert.Ignore("CUDA is available on this machine");
        Assert.That(why, Does.Contain("lib").And.Contain("CUDA"));
        var e = Assert.Throws<ExecutionProviderException>(() => ModelSession.Open(_tmp.Sub("base"), new SessionConfig { Provider = ExecutionProviderKind.Cuda }))!;
        Assert.That(e.Message, Is.EqualTo(why + " (field 'provider', value 'cuda')"));
        var warnings = new List<string>();
        using var auto = ModelSession.Open(_tmp.Sub("base"), new SessionConfig { Provider = ExecutionProviderKind.Auto, Threads = 1 }, warnings.Add);
        Assert.That(warnings, Has.Count.EqualTo(1).And.Some.StartsWith("CUDA unavailable, running on CPU"));
        Assert.That(auto.Run(new ForwardRequest([Prompts[1]])).Logits.Data, Is.EqualTo(_model.Run(new ForwardRequest([Prompts[1]])).Logits.Data).Within(1e-5f));
    }

    static void CopyDir(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }
}
