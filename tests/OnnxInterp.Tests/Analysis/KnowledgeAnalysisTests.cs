using System.Text.Json;
using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Checkpoints;
using OnnxInterp.Data;
using OnnxInterp.Reports;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Tests.Analysis;

public class KnowledgeAnalysisTests
{
    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void Run_TwoModels_MatricesTransfersComparisonsAndReport(string kind)
    {
        using var tmp = new TempDir();
        var world = SyntheticWorld.Generate(4);
        // A BPE trained on the world's statements, so " TRUE" and " FALSE" are single tokens as in real vocabularies.
        var corpus = world.ToDataset(SyntheticWorld.Cities).Statements.Select(s => s.Text + " This statement is: TRUE FALSE");
        var tokenizerJson = BpeTrainer.TrainByteLevel(corpus, new BpeTrainer.Options(600, ["<s>", "</s>"], "<s>"));
        foreach (var (name, seed) in new[] { ("base", 1), ("post", 2) })
        {
            RandomCheckpoint.Write(tmp.Sub(name + "-hf"), new RandomCheckpointSpec { Layers = 2, Seed = seed, VocabSize = 600 });
            File.WriteAllText(Path.Combine(tmp.Sub(name + "-hf"), "tokenizer.json"), tokenizerJson);
        }
        var (baseModel, postModel) = (HookedModels.Open(kind, tmp.Sub("base-hf"), tmp.Sub("base")), HookedModels.Open(kind, tmp.Sub("post-hf"), tmp.Sub("post")));
        var result = KnowledgeAnalysis.Run(world.ToDataset(SyntheticWorld.Cities), ModelPair.CheckCompatible(baseModel, postModel)!,
            [new KnowledgeModel("base", baseModel), new KnowledgeModel("post", postModel)], world.FewShot(SyntheticWorld.Cities),
            new KnowledgeOptions { MaxPairs = 3 });
        HookedModels.Dispose(baseModel);
        HookedModels.Dispose(postModel);

        Assert.That(result.Matrices.Select(m => m.Model), Is.EqualTo(new[] { "base", "post" }));
        Assert.That(result.Transfers.Select(m => m.Model), Is.EqualTo(new[] { "base->post", "post->base" }));
        Assert.That(result.Matrices[0].Layers, Is.EqualTo(2));
        Assert.That(result.Matrices[0].PositionLabels, Has.Count.EqualTo(result.Prompts[0].Patched));
        Assert.That(result.Prompts.All(p => p.Pair.Roles.Count(r => r == TokenRole.Subject) == result.SubjectTokens));
        Assert.That(result.Comparisons.Select(c => (c.A, c.B)), Is.EqualTo(new[] { ("base", "post"), ("post", "base->post"), ("base", "post->base") }));
        // The matrix is the mean of the per-pair traces.
        var traces = result.PerPair["post"];
        Assert.That(result.Matrices[1].Values[1, 0], Is.EqualTo(traces.Average(t => t.Values[1, 0])).Within(1e-12));

        KnowledgeReport.Write(tmp.Sub("report"), result);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(tmp.Sub("report"), "knowledge_cities.json")));
        Assert.That(json.RootElement.GetProperty("matrices").GetArrayLength(), Is.EqualTo(4));
        Assert.That(json.RootElement.GetProperty("comparisons").GetArrayLength(), Is.EqualTo(3));
        Assert.That(Directory.GetFiles(Path.Combine(tmp.Sub("report"), "figures"), "*.png"), Has.Length.EqualTo(5));
        Assert.That(Directory.GetFiles(tmp.Sub("report"), "*.csv"), Has.Length.EqualTo(4));
    }
}
