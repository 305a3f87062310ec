using System.Text.Json;
using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Analysis.Truth;
using OnnxInterp.Checkpoints;
using OnnxInterp.Data;
using OnnxInterp.Export;
using OnnxInterp.Reports;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Tests.Analysis.Truth;

/// <summary>
/// Prompts, activation collection and the whole analysis on two random models with a BPE trained on the synthetic world,
/// each checked against a computation that runs one statement at a time.
/// </summary>
public class TruthAnalysisTests : TruthModelsFixture
{
    [Test]
    public void BuildPrompts_StatementReading_PositionsAreTheStatementsLastTwoTokens()
    {
        var data = _world.ToDataset(SyntheticWorld.Cities);
        var examples = _world.FewShot(SyntheticWorld.Cities);
        var statements = data.Statements.Take(8).ToList();
        var (prompts, skipped) = TruthIntervention.BuildPrompts(statements, examples, _tokenizer);
        // The few-shot examples are the first judged facts, so the dataset's first statements are among them: left out.
        var inExamples = statements.Count(s => examples.Any(e => e.Statement == s.Text));
        Assert.That(inExamples, Is.GreaterThan(0));
        Assert.That((prompts.Count, skipped), Is.EqualTo((statements.Count - inExamples, inExamples)));
        foreach (var p in prompts)
        {
            int n = p.Tokens.Length, last = n + p.Positions[1];
            Assert.That(p.Positions[0], Is.EqualTo(p.Positions[1] - 1));
            Assert.That(_tokenizer.Decode(p.Tokens[(last + 1)..]), Is.EqualTo(TracingPrompts.Question));
            Assert.That(_tokenizer.Decode(p.Tokens[..(last + 1)], skipSpecialTokens: true), Does.EndWith("\n" + p.Statement));
            Assert.That(_tokenizer.Decode([p.Tokens[last]]), Is.EqualTo("."));
            // Four example lines precede the statement, each judged.
            Assert.That(_tokenizer.Decode(p.Tokens, skipSpecialTokens: true).Split('\n'), Has.Length.EqualTo(5));
        }
        var (judgement, _) = TruthIntervention.BuildPrompts(statements, examples, _tokenizer, reading: TruthReading.Judgement);
        Assert.That(judgement.Select(p => p.Positions), Is.All.EqualTo(new[] { -2, -1 }));
        Assert.That(judgement.Select(p => p.Tokens), Is.EqualTo(prompts.Select(p => p.Tokens)), "same seed, same prompts");
    }

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void Collect_LeftPaddedBatches_EqualOneStatementAtATime(string kind)
    {
        var statements = _world.ToDataset(SyntheticWorld.Cities).Statements.Take(4).Concat(_world.ToDataset(SyntheticWorld.Animals).Statements.Take(3)).ToList();
        var tokens = statements.Select(s => _tokenizer.Encode(s.Text)).ToArray();
        var labels = statements.Select(s => s.Label).ToArray();
        int[] positions = [-1, -2, -1, -3, -1, -1, -2];
        var sets = TruthActivations.Collect(Base(kind), [new TokenizedDataset("c", tokens, labels, positions)], [0, 1], batchSize: 3);
        Assert.That(tokens.Select(t => t.Length).Distinct().Count(), Is.GreaterThan(1), "the batches need padding");
        for (int i = 0; i < tokens.Length; i++)
        {
            var r = Base(kind).Run(new ForwardRequest([tokens[i]]) { Hooks = ["blocks.*.hook_resid_post"] });
            for (int l = 0; l < 2; l++)
                Assert.That(sets[l][0].Row(i).ToArray(), Is.EqualTo(r[HookName.ResidPost(l)].Vector(0, tokens[i].Length + positions[i]).ToArray()).Within(1e-4),
                    $"statement {i}, layer {l}");
        }
        Assert.That(sets[0][0].Labels, Is.EqualTo(labels));
    }

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void Run_TwoRandomModels_AgreesWithOneStatementAtATime_AndWritesTheReport(string kind)
    {
        var datasets = Datasets(24);
        var options = new TruthOptions { MaxInterventionStatements = 3, BatchSize = 5 };
        var result = TruthAnalysis.Run(datasets, _tokenizer, [new TruthModel("base", Base(kind)), new TruthModel("post", Post(kind))], options);

        Assert.That(result.Models, Is.EqualTo(new[] { "base", "post" }));
        Assert.That(result.Layers, Is.EqualTo(new[] { 0, 1 }));
        Assert.That(result.Evaluation, Is.EqualTo("leave-one-dataset-out"));
        Assert.That(result.ProbeLayer, Is.EqualTo(result.Probes[0].BestLayer));
        Assert.That(result.Probes.Select(p => p.Layers.Count), Is.All.EqualTo(2));
        Assert.That(result.Probes[0].Layers[0].PerDataset.Select(a => a.Dataset), Is.EqualTo(new[] { "cities", "animal_class" }));
        var at = result.Probes[1].At(result.ProbeLayer);
        Assert.That(at.MassMean, Is.EqualTo(at.PerDataset.Average(a => a.MassMean)).Within(1e-12));

        // The directions at the probe layer from an independent loop: one statement at a time, each dataset centred, pooled.
        var models = new[] { Base(kind), Post(kind) };
        for (int m = 0; m < 2; m++)
        {
            var expected = ReferenceDirection(models[m], datasets.Select(d => d.Data.Statements).ToList(), result.ProbeLayer);
            Assert.That(result.ProbeLayerDirections[m], Is.EqualTo(expected).Within(1e-4));
        }
        var cos = result.CosinesAtProbeLayer.Matrix;
        Assert.That(cos[0][0], Is.EqualTo(1).Within(1e-12));
        Assert.That(cos[0][1], Is.EqualTo(cos[1][0]));
        Assert.That(cos[0][1], Is.EqualTo(TruthDirection.Cosine(result.ProbeLayerDirections[0], result.ProbeLayerDirections[1])).Within(1e-12));

        Assert.That(result.Transfer.Select(t => (t.Model, t.Dataset)), Is.EqualTo(new[] { ("post", "cities"), ("post", "animal_class") }));
        Assert.That(result.Transfer.Select(t => t.BaseOnBase),
            Is.EqualTo(result.Probes[0].At(result.ProbeLayer).PerDataset.Select(a => a.MassMean)), "the base probe on the base model is the LODO accuracy");

        var iv = result.Intervention!;
        Assert.That(iv.Dataset, Is.EqualTo("cities"));
        Assert.That(iv.DirectionDatasets, Is.EqualTo(new[] { "animal_class" }));
        Assert.That(iv.Layers, Is.EqualTo(Enumerable.Range(0, result.ProbeLayer + 1)), "up to 5 layers ending at the probe layer");
        Assert.That(iv.Effects.Select(e => (e.Direction, e.Model)), Is.EqualTo(new[] { ("base", "base"), ("base", "post"), ("post", "base"), ("post", "post") }));
        // Baselines against the unbatched p_diff of the same prompts.
        var cities = datasets[0].Data.Statements;
        int trueId = _tokenizer.Encode(" TRUE", addSpecialTokens: false)[0], falseId = _tokenizer.Encode(" FALSE", addSpecialTokens: false)[0];
        var truePrompts = TruthIntervention.BuildPrompts(cities.Where(s => s.Label == 1), datasets[0].FewShot!, _tokenizer).Prompts.Take(3).ToList();
        Assert.That(iv.TrueStatements, Is.EqualTo(3));
        double reference = truePrompts.Average(p =>
        {
            var logits = Post(kind).Run(new ForwardRequest([p.Tokens])).Logits.Vector(0, p.Tokens.Length - 1).ToArray();
            double max = logits.Max(), z = logits.Sum(v => Math.Exp(v - max));
            return (Math.Exp(logits[trueId] - max) - Math.Exp(logits[falseId] - max)) / z;
        });
        Assert.That(iv.Baselines[1].TrueStatements, Is.EqualTo(reference).Within(1e-5));
        Assert.That(iv.Effects[1].BaseTrue, Is.EqualTo(iv.Baselines[1].TrueStatements));
        // The added vector is the source model's direction from the other datasets, at its full length.
        var animalsOnly = ReferenceDirection(Post(kind), [datasets[1].Data.Statements], result.ProbeLayer);
        Assert.That(iv.DirectionNorms[1], Is.EqualTo(Math.Sqrt(animalsOnly.Sum(x => x * x))).Within(1e-4));

        var report = _tmp.Sub("report-" + kind);
        TruthReport.Write(report, result);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(report, "truth.json")));
        Assert.That(json.RootElement.GetProperty("probeLayer").GetInt32(), Is.EqualTo(result.ProbeLayer));
        Assert.That(json.RootElement.GetProperty("intervention").GetProperty("effects").GetArrayLength(), Is.EqualTo(4));
        Assert.That(json.RootElement.GetProperty("intervention").GetProperty("effects")[0].GetProperty("meanEffect").GetDouble(),
            Is.EqualTo(iv.Effects[0].MeanEffect).Within(1e-12));
        Assert.That(json.RootElement.GetProperty("options").GetProperty("reading").GetString(), Is.EqualTo("Statement"));
        var figures = Directory.GetFiles(Path.Combine(report, "figures"));
        Assert.That(figures.Select(Path.GetFileName), Is.EquivalentTo(new[] { "truth_probe_accuracy_base.png", "truth_probe_accuracy_post.png" }));
        Assert.That(File.ReadAllBytes(figures[0])[1..4], Is.EqualTo("PNG"u8.ToArray()));
        var md = File.ReadAllText(Path.Combine(report, "truth.md"));
        Assert.That(md, Is.EqualTo(TruthReport.Markdown(result)));
        Assert.That(md, Does.Contain("| post | cities |").And.Contain("| base → post |").And.Contain("Table 2").And.Contain("Table 3"));
    }

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void Run_JudgementReading_ReadsTheLastTokenOfTheFewShotPrompts(string kind)
    {
        var datasets = Datasets(10);
        var result = TruthAnalysis.Run(datasets, _tokenizer, [new TruthModel("base", Base(kind))],
            new TruthOptions { Reading = TruthReading.Judgement, Layer = 1, Logistic = false, MaxInterventionStatements = 2 });
        // The few-shot examples' own statements are left out of the prompts.
        int left = datasets[0].Data.Statements.Count(s => !datasets[0].FewShot!.Any(e => e.Statement == s.Text));
        Assert.That(result.Datasets[0].Statements, Is.EqualTo(left));
        Assert.That(result.Probes[0].At(1).Logistic, Is.Null);
        Assert.That(result.Intervention!.Effects, Has.Count.EqualTo(1));
    }

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void Run_BadInput_TypedErrorsNamingTheField(string kind)
    {
        var models = new[] { new TruthModel("base", Base(kind)) };
        var datasets = Datasets(12);
        Assert.That(() => TruthAnalysis.Run(datasets, _tokenizer, models, new TruthOptions { Layer = 2 }),
            Throws.TypeOf<InvalidArgumentException>().With.Property("Field").EqualTo("layer"));
        Assert.That(() => TruthAnalysis.Run(datasets, _tokenizer, models, new TruthOptions { Logistic = false, InterventionDataset = "planets" }),
            Throws.TypeOf<InvalidArgumentException>().With.Property("Field").EqualTo("intervention_dataset"));
        Assert.That(() => TruthAnalysis.Run(datasets, _tokenizer, models, new TruthOptions { Logistic = false, Layer = 1, InterventionFirstLayer = 1, InterventionLastLayer = 0 }),
            Throws.TypeOf<InvalidArgumentException>().With.Property("Field").EqualTo("intervention_last_layer"));
        Assert.That(() => TruthAnalysis.Run(datasets, _tokenizer, models, new TruthOptions { InterventionFirstLayer = 9 }),
            Throws.TypeOf<InvalidArgumentException>().With.Property("Field").EqualTo("intervention_first_layer"));
        Assert.That(() => TruthAnalysis.Run(datasets, _tokenizer, models, new TruthOptions { LogisticC = 0 }),
            Throws.TypeOf<InvalidArgumentException>().With.Property("Field").EqualTo("logistic_c"));
        var oneClass = datasets[0] with { Data = datasets[0].Data with { Statements = datasets[0].Data.Statements.Where(s => s.Label == 1).ToList() } };
        Assert.That(() => TruthAnalysis.Run([oneClass], _tokenizer, models),
            Throws.TypeOf<InvalidArgumentException>().With.Property("Value").EqualTo("cities"));
        var noFewShot = datasets.Select(d => d with { FewShot = null }).ToList();
        Assert.That(() => TruthAnalysis.Run(noFewShot, _tokenizer, models, new TruthOptions { Reading = TruthReading.Judgement }),
            Throws.TypeOf<InvalidArgumentException>().With.Message.Contains("few-shot"));
        // Without few-shot examples the statement reading still runs; the intervention is skipped.
        Assert.That(TruthAnalysis.Run(noFewShot, _tokenizer, models, new TruthOptions { Logistic = false }).Intervention, Is.Null);
    }
}
