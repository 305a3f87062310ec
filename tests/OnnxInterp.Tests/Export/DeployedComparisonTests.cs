using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Data;
using OnnxInterp.Export;
using OnnxInterp.Export.Hooking;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Reference;
using OnnxInterp.Tests.Support;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Tests.Export;

/// <summary>
/// The auditor's question end to end: an fp32 base against an int4 instruct model as deployed (no hook I/O, fused,
/// MatMulNBits), hooked with `hook`, compared by the knowledge analysis (causal tracing and cross-model transfer).
/// </summary>
public class DeployedComparisonTests
{
    /// <summary>
    /// Tiny random models: the int4 post model as a builder-layout graph, hooked. The analysis runs on the pair unchanged
    /// and reads the hooked deployed graph as it reads our own int4 export of the same weights.
    /// </summary>
    [Test]
    public void KnowledgeAnalysis_Fp32BaseAgainstHookedBuilderInt4Post_MatchesOurInt4Export()
    {
        using var tmp = new TempDir();
        var world = SyntheticWorld.Generate(4);
        var corpus = world.ToDataset(SyntheticWorld.Cities).Statements.Select(s => s.Text + " This statement is: TRUE FALSE");
        var tokenizerJson = BpeTrainer.TrainByteLevel(corpus, new BpeTrainer.Options(600, ["<s>", "</s>"], "<s>"));
        var spec = new TinyCheckpointSpec("llama") { NumLayers = 2, VocabSize = 600 };
        var postCkpt = TinyCheckpointFactory.Create(spec with { Seed = 92 });
        // fp32 compute in MatMulNBits, so the two int4 graphs differ only in rounding (level 4's int8 activations amplify it).
        var int4 = WeightQuantization.Int4() with { AccuracyLevel = 0 };
        foreach (var (name, ckpt, q) in new[] { ("base", TinyCheckpointFactory.Create(spec with { Seed = 91 }), (WeightQuantization?)null), ("ours", postCkpt, int4) })
        {
            var hf = TestCheckpoints.Write(ckpt, tmp.Sub(name + "-hf"));
            File.WriteAllText(Path.Combine(hf, "tokenizer.json"), tokenizerJson);
            ModelExporter.Export(hf, tmp.Sub(name), new ExportOptions { HashSource = false, LayerGraphs = false, Quantization = q });
        }
        BuilderLayoutModel.Write(postCkpt, tmp.Sub("post-deployed"), int4);
        File.WriteAllText(Path.Combine(tmp.Sub("post-deployed"), "tokenizer.json"), tokenizerJson);
        HookRewriter.Hook(tmp.Sub("post-deployed"), tmp.Sub("post"));

        using var pair = ModelPair.Open(tmp.Sub("base"), tmp.Sub("post"));
        using var ours = ModelSession.Open(tmp.Sub("ours"));
        Assert.That(pair.Post.Manifest.Quantization?.Bits, Is.EqualTo(4));
        var result = KnowledgeAnalysis.Run(world.ToDataset(SyntheticWorld.Cities), pair.Tokenizer!,
            [new KnowledgeModel("base", pair.Base), new KnowledgeModel("int4", pair.Post), new KnowledgeModel("ours", ours)], world.FewShot(SyntheticWorld.Cities),
            new KnowledgeOptions { MaxPairs = 2 });
        Assert.That(result.Matrices.Select(m => m.Model), Is.EqualTo(new[] { "base", "int4", "ours" }));
        Assert.That(result.Transfers.Select(m => m.Model), Is.EqualTo(new[] { "base->int4", "int4->base", "base->ours", "ours->base" }));
        var all = result.Matrices.Concat(result.Transfers).ToDictionary(m => m.Model);
        foreach (var (deployed, exported) in new[] { ("int4", "ours"), ("base->int4", "base->ours"), ("int4->base", "ours->base") })
        {
            var a = all[deployed].Values;
            var b = all[exported].Values;
            double worst = 0;
            for (int i = 0; i < a.GetLength(0); i++) for (int j = 0; j < a.GetLength(1); j++) worst = Math.Max(worst, Math.Abs(a[i, j] - b[i, j]));
            Assert.That(worst, Is.LessThanOrEqualTo(1e-3), $"{deployed} vs {exported}");
        }
    }

    /// <summary>
    /// The family: fp32 base against its int4 instruct exported as deployed and hooked; the int4 instruct's knowledge
    /// matrix and its comparison with the base must match those of the fp32 instruct.
    /// </summary>
    [Test]
    public void KnowledgeAnalysis_FamilyFp32BaseAgainstDeployedInt4Instruct_MatchesFp32Instruct()
    {
        ShippedFamily.RequireRoot();
        using var tmp = new TempDir();
        ModelExporter.Export(ShippedFamily.Checkpoint("instruct"), tmp.Sub("deployed"),
            ExportOptions.Plain with { HashSource = false, Fused = true, Quantization = WeightQuantization.Int4() });
        HookRewriter.Hook(tmp.Sub("deployed"), tmp.Sub("int4"));
        using var baseModel = ModelSession.Open(ShippedFamily.Exported("base"));
        using var fp32 = ModelSession.Open(ShippedFamily.Exported("instruct"));
        using var int4 = ModelSession.Open(tmp.Sub("int4"));
        ModelPair.CheckCompatible(baseModel, int4);

        var world = SyntheticWorld.Generate(1, OnnxInterp.Trainer.Family.FamilyRecipe.World);
        var tok = HfTokenizer.FromDirectory(tmp.Sub("int4"));
        var result = KnowledgeAnalysis.Run(world.ToDataset(SyntheticWorld.Cities), tok,
            [new KnowledgeModel("base", baseModel), new KnowledgeModel("instruct", fp32), new KnowledgeModel("instruct-int4", int4)],
            world.FewShot(SyntheticWorld.Cities), new KnowledgeOptions { MaxPairs = 6, Transfer = false });
        var m = result.Matrices.ToDictionary(x => x.Model);
        var int4VsFp32 = KnowledgeComparison.Compare(m["instruct"], m["instruct-int4"]);
        var baseVsFp32 = KnowledgeComparison.Compare(m["base"], m["instruct"]);
        var baseVsInt4 = KnowledgeComparison.Compare(m["base"], m["instruct-int4"]);
        TestContext.Out.WriteLine($"corr(instruct, instruct-int4) {int4VsFp32.Corr:F3}, max |diff| {int4VsFp32.MaxAbsDiff:F3}; " +
            $"corr(base, instruct) {baseVsFp32.Corr:F3}; corr(base, instruct-int4) {baseVsInt4.Corr:F3}");
        Assert.That(int4VsFp32.Corr, Is.GreaterThanOrEqualTo(0.95), "int4 keeps the instruct model's knowledge map");
        Assert.That(Math.Abs(baseVsInt4.Corr - baseVsFp32.Corr), Is.LessThanOrEqualTo(0.05), "the base comparison reads the same on the deployed model");
    }
}
