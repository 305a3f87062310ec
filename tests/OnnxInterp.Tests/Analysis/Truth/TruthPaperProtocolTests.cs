using OnnxInterp.Analysis;
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
/// The whole analysis under the paper protocol on two random 2-layer models (not the paper's, so the layer rule applies),
/// checked against computations that run one statement at a time; the preset's options; bad input; the report's
/// published columns.
/// </summary>
public class TruthPaperProtocolTests : TruthModelsFixture
{
    static readonly TruthOptions Paper = new TruthStep().PaperDefaults;

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void Run_PaperProtocol_RuleLayers_TrainingDatasetsOnly_AgreesWithOneStatementAtATime(string kind)
    {
        var datasets = Datasets(24);
        var options = Paper with { MaxInterventionStatements = 3, BatchSize = 5 };
        var result = TruthAnalysis.Run(datasets, _tokenizer, [new TruthModel("base", Base(kind)), new TruthModel("post", Post(kind))], options);

        // Not the paper's models: 12 of 32 layers → round(12·2/32) = 1; intervene_layer 8 → 1.
        Assert.That(result.PaperLayers!.Select(p => (p.ProbeLayer, p.FirstInterventionLayer, p.FromTable)), Is.All.EqualTo((1, 1, false)));
        Assert.That((result.ProbeLayer, result.Layers), Is.EqualTo((1, new[] { 1 })), "only the probe layer is collected");
        // Of the paper's five training datasets only animal_class is given; cities is held out.
        Assert.That(result.TrainingDatasets, Is.EqualTo(new[] { "animal_class" }));
        Assert.That(result.MissingTrainingDatasets, Is.EqualTo(new[] { "sp_en_trans", "inventors", "element_symb", "facts" }));
        Assert.That(result.Evaluation, Is.EqualTo("trained on animal_class; tested on cities"));
        Assert.That(result.Probes[0].Layers.Single().PerDataset.Select(a => a.Dataset), Is.EqualTo(new[] { "cities" }));
        Assert.That(result.Probes[0].Layers.Single().Logistic, Is.Null, "the paper's Table 2 is MMProbe only");

        // The cross-model cosine is of the directions on the training datasets only (probe_transfer.py:36-54), not of all pooled.
        var animals = new[] { datasets[1].Data.Statements };
        var dBase = ReferenceDirection(Base(kind), animals, 1);
        var dPost = ReferenceDirection(Post(kind), animals, 1);
        Assert.That(result.ProbeLayerDirections[0], Is.EqualTo(dBase).Within(1e-4));
        Assert.That(result.CosinesAtProbeLayer.Matrix[0][1], Is.EqualTo(TruthDirection.Cosine(dBase, dPost)).Within(1e-5));
        var pooled = TruthDirection.Cosine(ReferenceDirection(Base(kind), datasets.Select(d => d.Data.Statements).ToList(), 1),
            ReferenceDirection(Post(kind), datasets.Select(d => d.Data.Statements).ToList(), 1));
        Assert.That(Math.Abs(pooled - result.CosinesAtProbeLayer.Matrix[0][1]), Is.GreaterThan(1e-3), "pooling every dataset would give another cosine");

        // Table 2: the base probe (trained on animal_class, paper fit) on each model's cities activations.
        var t = result.Transfer.Single();
        Assert.That((t.Model, t.Dataset), Is.EqualTo(("post", "cities")));
        Assert.That(t.BaseOnBase, Is.EqualTo(result.Probes[0].At(1).MassMean));
        Assert.That(t.Own, Is.EqualTo(result.Probes[1].At(1).MassMean));

        // Table 3 on cities: layers intervene..probe inclusive, the paper's positions, directions from animal_class.
        var iv = result.Intervention!;
        Assert.That((iv.Dataset, iv.Layers, iv.DirectionDatasets), Is.EqualTo(("cities", new[] { 1 }, new[] { "animal_class" })));
        Assert.That(iv.Positions, Is.EqualTo(TruthPaperPrompts.Positions(_tokenizer)));
        Assert.That(iv.DirectionNorms[0], Is.EqualTo(Math.Sqrt(dBase.Sum(x => x * x))).Within(1e-4));
        // The baseline from the paper's queries, one at a time: P(last id of ' TRUE') − P(last id of ' FALSE') at the last token.
        var trueSubset = datasets[0].Data.Statements.Where(s => s.Label == 1).ToList();
        var (prompts, _) = TruthPaperPrompts.Build(trueSubset, datasets[0].FewShot!, _tokenizer);
        int trueId = _tokenizer.Encode(" TRUE")[^1], falseId = _tokenizer.Encode(" FALSE")[^1];
        double reference = prompts.Take(3).Average(p =>
        {
            var tokens = _tokenizer.Encode(TruthPaperPrompts.Queries(trueSubset, datasets[0].FewShot!).First(q => q.Statement.Text == p.Statement).Text);
            var logits = Base(kind).Run(new ForwardRequest([tokens]) { LogitPositions = [-1] }).Logits.Vector(0, 0).ToArray();
            double max = logits.Max(), z = logits.Sum(v => Math.Exp(v - max));
            return (Math.Exp(logits[trueId] - max) - Math.Exp(logits[falseId] - max)) / z;
        });
        Assert.That(iv.Baselines[0].TrueStatements, Is.EqualTo(reference).Within(1e-5));

        var md = TruthReport.Markdown(result);
        Assert.That(md, Does.Contain("Protocol: paper").And.Contain("not a model of the paper").And.Contain("not trained on: sp_en_trans, inventors, element_symb, facts")
            .And.Contain("random.seed(1 + i)").And.Contain("Not reproduced").And.Contain("No published numbers apply").And.Contain("| post | cities |"));
        var json = TruthStep.WriteSection(TruthSection.From(result));
        Assert.That(json["protocol"]!.GetValue<string>(), Is.EqualTo("Paper"));
        Assert.That(json["intervention"]!["positions"]!.AsArray().Select(p => p!.GetValue<int>()), Is.EqualTo(iv.Positions));
    }

    [Test]
    public void PaperDefaults_AreThePapersSettings_AndDefaultsStayOnnxInterps()
    {
        var p = new TruthStep().Options(null, "paper");
        Assert.That(p.Protocol, Is.EqualTo(AnalysisProtocol.Paper));
        Assert.That(p.TrainingDatasets, Is.EqualTo(TruthPaperSettings.TrainingDatasets));
        Assert.That((p.InterventionDataset, p.Logistic, p.Seed, p.InterventionScale, p.TrueAnswer, p.FalseAnswer, p.Reading),
            Is.EqualTo(("cities", false, 1, 1.0, " TRUE", " FALSE", TruthReading.Statement)));
        Assert.That((p.Layer, p.Layers, p.InterventionFirstLayer, p.InterventionLastLayer), Is.EqualTo(((int?)null, (IReadOnlyList<int>?)null, (int?)null, (int?)null)),
            "null: taken from config.ini (or the rule) per model at run time");
        var d = new TruthStep().Options(null);
        Assert.That((d.Protocol, d.TrainingDatasets, d.InterventionDataset), Is.EqualTo((AnalysisProtocol.Default, (IReadOnlyList<string>?)null, (string?)null)));
        Assert.That(() => new TruthStep().Options(System.Text.Json.Nodes.JsonNode.Parse("""{"reading": "Judgement"}""")!.AsObject(), "paper"),
            Throws.TypeOf<InvalidArgumentException>().With.Property("Field").EqualTo("truth.reading"));
        Assert.That(() => new TruthStep().Options(System.Text.Json.Nodes.JsonNode.Parse("""{"trainingDatasets": ["cities"]}""")!.AsObject()),
            Throws.TypeOf<InvalidArgumentException>().With.Property("Field").EqualTo("truth.trainingDatasets"));
    }

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void Run_PaperProtocol_BadInput_TypedErrorsNamingTheDatasetAndWhatToPass(string kind)
    {
        var models = new[] { new TruthModel("base", Base(kind)) };
        var datasets = Datasets(12);
        // cities without few-shot examples: the paper gives none for it here; animal_class has them.
        var noCities = new List<TruthDataset> { datasets[0] with { FewShot = null }, datasets[1] };
        var e = Assert.Throws<InvalidArgumentException>(() => TruthAnalysis.Run(noCities, _tokenizer, models, Paper));
        Assert.That((e!.Field, e.Value), Is.EqualTo(("intervention_dataset", "cities")));
        Assert.That(e.Message, Does.Contain("no few-shot examples for cities").And.Contain("(animal_class)").And.Contain("turn the intervention off"));
        e = Assert.Throws<InvalidArgumentException>(() => TruthAnalysis.Run([datasets[1]], _tokenizer, models, Paper with { Intervene = false }));
        Assert.That(e!.Field, Is.EqualTo("datasets"), "every dataset is a training dataset: nothing to test on");
        Assert.That(e.Message, Does.Contain("cities"));
        e = Assert.Throws<InvalidArgumentException>(() => TruthAnalysis.Run([datasets[0]], _tokenizer, models, Paper));
        Assert.That(e!.Field, Is.EqualTo("training_datasets"));
        Assert.That(e.Message, Does.Contain("sp_en_trans, animal_class, inventors, element_symb, facts"));
        Assert.That(() => TruthAnalysis.Run(datasets, _tokenizer, models, Paper with { Reading = TruthReading.Judgement }),
            Throws.TypeOf<InvalidArgumentException>().With.Property("Field").EqualTo("reading"));
        Assert.That(() => TruthAnalysis.Run(datasets, _tokenizer, models, new TruthOptions { TrainingDatasets = ["cities"] }),
            Throws.TypeOf<InvalidArgumentException>().With.Property("Field").EqualTo("training_datasets"));
        Assert.That(() => TruthAnalysis.Run(datasets, _tokenizer, models, Paper with { InterventionDataset = "planets" }),
            Throws.TypeOf<InvalidArgumentException>().With.Property("Field").EqualTo("intervention_dataset").And.Message.Contains("turn the intervention off"));
    }

    [Test]
    public void Markdown_PapersModelsInThePublishedSetting_PutsThePublishedEffectsBeside()
    {
        var r = PublishedLikeResult(TruthPaperSettings.TrainingDatasets);
        Assert.That(TruthPaperResults.Comparable(r), Is.True);
        var md = TruthReport.Markdown(r);
        // base → base: ours (0.9 + 0.7)/2 = 0.8; published nif_m1_m1 0.9518, 0.7070, mean 0.8294 → difference −0.029.
        Assert.That(md, Does.Contain("| base → base | 0.900 | 0.700 | 0.800 | 0.952 | 0.707 | 0.829 | -0.029 |"));
        // instruct → base is the paper's nif_m2_m1: 0.9859, 0.6578, mean 0.8219.
        Assert.That(md, Does.Contain("| instruct → base | 0.900 | 0.700 | 0.800 | 0.986 | 0.658 | 0.822 | -0.022 |"));
        Assert.That(md, Does.Contain("| base | 0.900 | -0.900 | 0.945 | -0.906 |"));
        Assert.That(md, Does.Contain("label_change_intervention_results.json").And.Contain("Table 2 numbers are not given"));
        Assert.That(md, Does.Contain("config.ini [llama-3.1-8b] probe_layer 12, intervene_layer 8"));

        // Trained on four of the five: not the published setting, so no published column.
        var partial = PublishedLikeResult(TruthPaperSettings.TrainingDatasets.Skip(1).ToList());
        Assert.That(TruthPaperResults.Comparable(partial), Is.False);
        Assert.That(TruthReport.Markdown(partial), Does.Not.Contain("Paper mean IE").And.Contain("No published numbers are shown"));
    }

    /// <summary>A hand-made result shaped like the published run: Llama-3.1-8B and its Instruct, cities, layers 8–12.</summary>
    static TruthResult PublishedLikeResult(IReadOnlyList<string> training)
    {
        string[] models = ["base", "instruct"];
        var effects = new List<InterventionEffect>();
        // p_diff baselines 0.9 / −0.9; subtracting on true reaches 0.9 − 0.9·1.9 (IE 0.9), adding on false −0.9 + 0.7·1.9 (IE 0.7).
        foreach (var d in models)
            foreach (var m in models)
                effects.Add(new InterventionEffect(d, m, 0.9, -0.9, 0.9 - 0.9 * 1.9, -0.9 + 0.7 * 1.9));
        var iv = new InterventionResult("cities", training, [8, 9, 10, 11, 12], 1.0, 746, 746, 4, [1.0, 1.0],
            models.Select(m => new InterventionBaseline(m, 0.9, -0.9)).ToList(), effects) { Positions = [-6, -5] };
        var probes = models.Select(m => new ModelProbes(m, [new LayerProbeAccuracy(12, 0.9, null, [new DatasetAccuracy("cities", 0.9, null)])])).ToList();
        return new TruthResult(models, [new TruthDatasetInfo("cities", 1496, 748)], "trained on …", [12], 12, probes,
            [new LayerCosines(12, [[1, 0.95], [0.95, 1]])], [[1.0], [1.0]], [new ProbeTransferRow("instruct", "cities", 0.9, 0.9, 0.9, 0.9)], iv,
            new TruthStep().PaperDefaults)
        {
            TrainingDatasets = training,
            PaperLayers = [new TruthPaperLayers("llama-3.1-8b", 12, 8, true), new TruthPaperLayers("llama-3.1-8b-instruct", 12, 8, true)],
        };
    }
}
