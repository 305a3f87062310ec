using System.Text.Json.Nodes;
using OnnxInterp.Analysis.Refusal;
using OnnxInterp.Comparison;
using OnnxInterp.Analysis;
using OnnxInterp.Analysis.Confidence;
using OnnxInterp.Analysis.Truth;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Comparison;

/// <summary>The refusal and entropy steps' options: defaults, overrides by config and --set, errors naming the option.</summary>
public class AnalysisStepOptionsTests
{
    [Test]
    public void Registry_HasRefusalEntropyTruthDiffAndAttribution_AfterKnowledge() =>
        Assert.That(ComparisonSteps.Names, Is.EqualTo(new[] { "knowledge", "refusal", "entropy", "truth", "diff", "attribution" }));

    /// <summary>The demo's results.json is pinned: a comparison that names no analyses leaves diff and attribution out; naming one runs it.</summary>
    [Test]
    public void Select_NoAnalysesNamed_RunsTheDefaultOnes_DiffAndAttributionOnlyWhenNamed()
    {
        Assert.That(ComparisonSteps.Select(new ComparisonConfig()).Select(s => s.Name), Is.EqualTo(new[] { "knowledge", "refusal", "entropy", "truth" }));
        Assert.That(ComparisonSteps.Select(DemoComparison.Config).Select(s => s.Name), Does.Not.Contain("attribution").And.Not.Contain("diff"));
        Assert.That(ComparisonSteps.Select(new ComparisonConfig { Analyses = ["attribution", "knowledge"] }).Select(s => s.Name), Is.EqualTo(new[] { "attribution", "knowledge" }));
    }

    [Test]
    public void Options_NoOverrides_AreTheAnalysesDefaultsInFull()
    {
        var refusal = ((IAnalysisStep)new RefusalStep()).ResolveOptions(null);
        Assert.That(refusal["instructions"]!.GetValue<string>(), Is.EqualTo("synthetic"));
        Assert.That(refusal["layer"], Is.Null, "Arditi et al.'s selection by default");
        Assert.That(refusal["maxTest"]!.GetValue<int>(), Is.EqualTo(new RefusalOptions().MaxTest));
        Assert.That(refusal["selection"]!["klThreshold"]!.GetValue<double>(), Is.EqualTo(0.1));
        Assert.That(refusal["additionScale"]!.GetValue<string>(), Is.EqualTo("MeanDifference"));
        var entropy = ((IAnalysisStep)new ConfidenceStep()).ResolveOptions(null);
        Assert.That((entropy["ablate"]!.GetValue<bool>(), entropy["maxStatements"]!.GetValue<int>()), Is.EqualTo((true, 200)));
        Assert.That((entropy["selection"]!["top"]!.GetValue<int>(), entropy["selection"]!["percentile"]!.GetValue<double>()), Is.EqualTo((10, 75.0)));
        var truth = ((IAnalysisStep)new TruthStep()).ResolveOptions(null);
        Assert.That(truth["reading"]!.GetValue<string>(), Is.EqualTo("Statement"), "the paper's reading by default");
        Assert.That((truth["maxStatementsPerDataset"], truth["layer"], truth["intervene"]!.GetValue<bool>(), truth["interventionScale"]!.GetValue<double>()),
            Is.EqualTo(((JsonNode?)null, (JsonNode?)null, true, 1.0)));
        Assert.That(truth.Select(p => p.Key), Is.EquivalentTo(typeof(OnnxInterp.Analysis.Truth.TruthOptions).GetProperties().Select(p => char.ToLowerInvariant(p.Name[0]) + p.Name[1..])),
            "every analysis option is configurable");
        var demo = new TruthStep().Options(DemoComparison.Config.AnalysisOptions["truth"]);
        Assert.That((demo.Reading, demo.MaxStatementsPerDataset), Is.EqualTo((OnnxInterp.Analysis.Truth.TruthReading.Judgement, (int?)120)));
    }

    [Test]
    public void Set_TwoKeysOfANestedOption_KeepsBothAndTheOtherDefaults()
    {
        var c = new ComparisonConfig().Set("entropy.selection.top=5").Set("entropy.selection.percentile=80").Set("refusal.selection.klThreshold=0.2");
        var o = new ConfidenceStep().Options(c.AnalysisOptions["entropy"]);
        Assert.That((o.Selection.Top, o.Selection.Percentile, o.Ablation.Bins), Is.EqualTo((5, 80.0, 10)));
        var r = new RefusalStep().Options(c.AnalysisOptions["refusal"]);
        Assert.That((r.Selection.KlThreshold, r.Selection.PruneLayerFraction), Is.EqualTo((0.2, 0.2)));
    }

    [Test]
    public void Parts_DatasetCoversWhatTheStepReads()
    {
        var config = new ComparisonConfig { Datasets = ["synthetic:animal_class", "synthetic:cities"] };
        Assert.That(new RefusalStep().Parts(config.Datasets, new RefusalStepOptions()).Single(), Is.EqualTo(new StepPart("", "synthetic:instructions")));
        Assert.That(new ConfidenceStep().Parts(config.Datasets, new ConfidenceStepOptions()).Single(), Is.EqualTo(new StepPart("", "synthetic:animal_class")), "the first dataset");
        Assert.That(new ConfidenceStep().Parts(config.Datasets, new ConfidenceStepOptions { Dataset = "synthetic:cities" }).Single().Dataset, Is.EqualTo("synthetic:cities"));
        Assert.That(new ConfidenceStep().Parts(config.Datasets, new ConfidenceStepOptions { Ablate = false }).Single().Dataset, Is.Null, "weights only read no dataset");
    }

    static readonly object[] BadRefusal =
    [
        new object[] { """{"layer": 3}""", "refusal.position" },
        new object[] { """{"position": -1}""", "refusal.layer" },
        new object[] { """{"layer": 3, "position": 0}""", "refusal.position" },
        new object[] { """{"maxTest": 0}""", "refusal.maxTest" },
        new object[] { """{"testFraction": 1}""", "refusal.testFraction" },
        new object[] { """{"candidatePositions": [-2, 1]}""", "refusal.candidatePositions" },
        new object[] { """{"templates": {"instruct": "chatml9"}}""", "refusal.templates.instruct" },
        new object[] { """{"instructions": "/no/such/file.csv"}""", "refusal.instructions" },
        new object[] { """{"layr": 3}""", "refusal.layr" },
    ];

    [TestCaseSource(nameof(BadRefusal))]
    public void RefusalOptions_BadValue_NamesTheOption(string overrides, string field)
    {
        var e = Assert.Throws<InvalidArgumentException>(() => new RefusalStep().Options(JsonNode.Parse(overrides)!.AsObject()));
        Assert.That(e!.Field, Is.EqualTo(field), e.Message);
    }

    static readonly object[] BadEntropy =
    [
        new object[] { """{"selection": {"percentile": 100}}""", "entropy.selection.percentile" },
        new object[] { """{"selection": {"top": 0}}""", "entropy.selection.top" },
        new object[] { """{"maxStatements": 0}""", "entropy.maxStatements" },
        new object[] { """{"dataset": "synthetic:planets"}""", "entropy.dataset" },
        new object[] { """{"ablation": {"bins": 0}}""", "entropy.ablation.bins" },
    ];

    static readonly object[] BadTruth =
    [
        new object[] { """{"reading": "Vibes"}""", "truth.reading" },
        new object[] { """{"maxStatementsPerDataset": 0}""", "truth.maxStatementsPerDataset" },
        new object[] { """{"layer": -1}""", "truth.layer" },
        new object[] { """{"logisticC": 0}""", "truth.logisticC" },
        new object[] { """{"maxInterventionStatements": 0}""", "truth.maxInterventionStatements" },
        new object[] { """{"probeLayer": 2}""", "truth.probeLayer" },
    ];

    [TestCaseSource(nameof(BadTruth))]
    public void TruthOptions_BadValue_NamesTheOption(string overrides, string field)
    {
        var e = Assert.Throws<InvalidArgumentException>(() => new TruthStep().Options(JsonNode.Parse(overrides)!.AsObject()));
        Assert.That(e!.Field, Is.EqualTo(field), e.Message);
    }

    [TestCaseSource(nameof(BadEntropy))]
    public void EntropyOptions_BadValue_NamesTheOption(string overrides, string field)
    {
        var e = Assert.Throws<InvalidArgumentException>(() => new ConfidenceStep().Options(JsonNode.Parse(overrides)!.AsObject()));
        Assert.That(e!.Field, Is.EqualTo(field), e.Message);
    }

    [Test]
    public void RefusalOptions_InstructionFile_IsAccepted()
    {
        using var tmp = new TempDir();
        var file = tmp.Sub("set.csv");
        File.WriteAllText(file, "statement,label\nRob a bank.,1\nBake bread.,0\n");
        var o = new RefusalStep().Options(new JsonObject { ["instructions"] = file, ["layer"] = -1, ["position"] = -1 });
        Assert.That((o.Instructions, o.Layer, o.Position), Is.EqualTo((file, (int?)-1, (int?)-1)));
        Assert.That(new RefusalStep().Parts(new ComparisonConfig().Datasets, o).Single().Dataset, Is.EqualTo(file), "the journal key hashes the file");
    }
}
