using System.Text.Json;
using OnnxInterp.Analysis.Editing;
using OnnxInterp.Checkpoints;
using OnnxInterp.Comparison;
using OnnxInterp.Data;
using OnnxInterp.Reports;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Analysis.Editing;

/// <summary>
/// Editing on a tiny random checkpoint (the family's tokenizer over random weights): the keys' statistics against a direct
/// computation on both implementations of the contract, the value search, and the whole edit (checkpoint written, exported,
/// scored on the export), with typed errors for a layer out of range, a corpus too small and an output folder in use.
/// </summary>
public class ModelEditingTests
{
    TempDir _tmp = null!;
    string _tiny = null!;

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        _tiny = _tmp.Sub("tiny");
        RandomCheckpoint.Write(_tiny, new RandomCheckpointSpec { Layers = 2, IntermediateSize = 48, Seed = 5, TokenizerDirectory = ShippedFamily.Checkpoint("base") });
    }

    [OneTimeTearDown]
    public void TearDown() => _tmp.Dispose();

    static readonly string[] Corpus = SyntheticWorld.Generate(1, WorldSize.Family).GenericSentences.Take(40).ToArray();

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void Covariance_IsTheMeanOuterProductOfEveryTokensKey_AndASmallCorpusIsATypedError(string kind)
    {
        var model = HookedModels.Open(kind, _tiny, _tmp.Sub("onnx-" + kind));
        try
        {
            var c = KeyStatistics.Covariance(model, 1, Corpus, batchSize: 7);
            var expected = new double[48, 48];
            long n = 0;
            foreach (var text in Corpus)
            {
                var ids = model.Tokenizer.Encode(text);
                var k = model.Run(new ForwardRequest([ids]) { Hooks = [HookName.MlpPost(1)] })[HookName.MlpPost(1)];
                for (int s = 0; s < ids.Length; s++, n++)
                    for (int i = 0; i < 48; i++)
                        for (int j = 0; j < 48; j++) expected[i, j] += k[0, s, i] * (double)k[0, s, j];
            }
            Assert.That((c.Keys, c.Texts), Is.EqualTo((n, Corpus.Length)));
            for (int i = 0; i < 48; i += 5)
                for (int j = 0; j < 48; j += 7)
                    Assert.That(c.Moment[i, j], Is.EqualTo(expected[i, j] / n).Within(1e-5 * (1 + Math.Abs(expected[i, j] / n))), $"[{i},{j}]");

            var small = Assert.Throws<InvalidArgumentException>(() => KeyStatistics.Covariance(model, 1, ["The city is in Diso."]))!;
            Assert.That(small.Field, Is.EqualTo("corpus"));
            Assert.That(small.Message, Does.Contain("too small for a covariance estimate").And.Contain("48"));
            var layer = Assert.Throws<InvalidArgumentException>(() => KeyStatistics.Covariance(model, 2, Corpus))!;
            Assert.That((layer.Field, layer.Value), Is.EqualTo(("layer", "2")));
        }
        finally
        {
            HookedModels.Dispose(model);
        }
    }

    [Test]
    public void ValueSearch_ReachesTheMargin_AndTheMarginHoldsUnderTheIntervention()
    {
        using var model = ModelSession.Open(ModelExport());
        var fact = new ResolvedFact(0, "Xaqo", "The city of Xaqo is in", "Medali", "Diso", "fact", [], [], null, []);
        var before = EditTokens.MeanLogProbs(model, [(fact.Prompt, fact.Target), (fact.Prompt, fact.Old)]);
        double goal = before[0] - before[1] + 2;
        var v = ValueSearch.Run(model, fact, 0, double.PositiveInfinity, new EditOptions { Margin = goal });
        Assert.That((v.Reached, v.Direction, v.Donors), Is.EqualTo((true, "gradient", 0)), $"{v}");
        Assert.That(v.MarginBefore, Is.EqualTo(before[0] - before[1]).Within(1e-6));
        Assert.That(v.MarginAtValue, Is.GreaterThanOrEqualTo(goal));
        var (_, s) = EditTokens.Subject(model.Tokenizer, fact.Prompt, fact.Subject);
        var lp = EditTokens.MeanLogProbs(model, [(fact.Prompt, fact.Target), (fact.Prompt, fact.Old)], interventions: (q, row, pad) =>
            [Intervention.Add(HookName.ResidPost(0), v.Delta.Select(x => (float)x).ToArray(), rows: [row], positions: [pad + s])]);
        Assert.That(lp[0] - lp[1], Is.EqualTo(v.MarginAtValue).Within(1e-4));
        var clamped = ValueSearch.Run(model, fact, 0, 1e-3, new EditOptions { Margin = goal, GradientRounds = 2 });
        Assert.That(clamped.Reached, Is.False);
        Assert.That(Math.Sqrt(clamped.Delta.Sum(x => x * x)), Is.LessThanOrEqualTo(1e-3 + 1e-12), "δ stays inside the clamp");
    }

    string ModelExport()
    {
        var dir = _tmp.Sub("tiny-onnx");
        if (!File.Exists(Path.Combine(dir, "manifest.json"))) OnnxInterp.Export.ModelExporter.Export(_tiny, dir, new OnnxInterp.Export.ExportOptions { HashSource = false });
        return dir;
    }

    static readonly EditFact[] Facts =
    [
        new("Xaqo", "The city of Xaqo is in", "Medali") { Old = "Diso", Paraphrases = ["Xaqo is a city in"], Neighbours = ["The city of Xoqa is in"] },
        new("Xuqe", "The city of Xuqe is in", "Neba") { Old = "Fizi" },
    ];

    // Layer 0: the last layer's output at the subject (not the last token) reaches no logit.
    EditRequest Request(string outDir, int? layer = 0) => new()
    {
        Checkpoint = _tiny, Facts = Facts, OutputDirectory = outDir, Layer = layer, Corpus = Corpus, CacheDirectory = _tmp.Sub("cache"),
        Options = new EditOptions { Margin = 1 },
    };

    [Test]
    public void ModelEditor_TinyCheckpoint_WritesTheEditedCheckpointExportAndScores()
    {
        var dir = _tmp.Sub("edited");
        var outcome = ModelEditor.Run(Request(dir));
        var r = outcome.Record;
        Assert.That(r.Method.Written, Is.EqualTo(r.Facts.Count(f => f.Written)).And.GreaterThan(0), string.Join("; ", r.Facts.Select(f => f.Value)));
        Assert.That(r.Schema, Is.EqualTo(EditRecord.SchemaName));
        Assert.That((r.Method.Layer, r.Site.ChosenBy, r.Method.Tensor), Is.EqualTo((0, "given", "model.layers.0.mlp.down_proj.weight")));
        Assert.That(r.Site.TracedFacts, Is.EqualTo(2), "each fact traced against the other's subject");
        Assert.That(r.Site.MeanEffect, Has.Count.EqualTo(2));
        Assert.That(r.Facts.Select(f => f.Paraphrase), Is.EqualTo(new double?[] { r.Facts[0].Paraphrase, null }));
        foreach (var f in r.Facts)
        {
            Assert.That(f.Efficacy, Is.InRange(0.0, 1.0));
            if (f.Written) Assert.That(f.Efficacy, Is.EqualTo(1), $"{f.Subject}: a written fact's target wins on the re-exported model");
        }
        Assert.That(r.Efficacy, Is.EqualTo(r.Facts.Average(f => f.Efficacy)));

        // The folder: a checkpoint that differs from the source in the edited tensor only, its export, edit.json.
        using (var a = HfCheckpoint.Open(_tiny))
        using (var b = HfCheckpoint.Open(dir))
        {
            Assert.That(b.TensorNames.Order(), Is.EqualTo(a.TensorNames.Order()));
            foreach (var name in a.TensorNames)
                Assert.That(b.ReadFloat32(name).SequenceEqual(a.ReadFloat32(name)), Is.EqualTo(name != r.Method.Tensor), name);
        }
        Assert.That(File.ReadAllText(Path.Combine(dir, "tokenizer.json")), Is.EqualTo(File.ReadAllText(Path.Combine(_tiny, "tokenizer.json"))));
        using (var edited = ModelSession.Open(Path.Combine(dir, EditRecord.ExportFolder)))
            Assert.That(edited.Weights.MlpDown(0).Data, Is.Not.EqualTo(ModelWeights.Open(_tiny).MlpDown(0).Data));
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, EditRecord.FileName))).RootElement;
        foreach (var key in new[] { "efficacy", "paraphrase", "specificity" })
        {
            Assert.That(json.GetProperty(key).GetDouble(), Is.InRange(0.0, 1.0), key);
            Assert.That(json.GetProperty("facts")[0].GetProperty(key).GetDouble(), Is.InRange(0.0, 1.0), key);
        }
        Assert.That(json.GetProperty("method").GetProperty("differsFromRome").GetString(), Does.Contain("backpropagation"));
        Assert.That(JsonSerializer.Deserialize<EditRecord>(json.GetRawText(), ResultsJson.Strict)!.Facts, Has.Count.EqualTo(2));

        // Again into the same folder, the layer now picked by causal tracing: an earlier edit's output is replaced.
        var again = ModelEditor.Run(Request(dir, layer: null)).Record;
        Assert.That((again.Site.ChosenBy, again.Method.Layer), Is.EqualTo(("causal tracing", Array.IndexOf(again.Site.MeanEffect!.ToArray(), again.Site.MeanEffect!.Max()))));
    }

    [Test]
    public void ModelEditor_BadInput_TypedErrors_AndNothingWritten()
    {
        var layer = Assert.Throws<InvalidArgumentException>(() => ModelEditor.Run(Request(_tmp.Sub("bad-layer"), layer: 2)))!;
        Assert.That((layer.Field, layer.Value), Is.EqualTo(("layer", "2")));
        var corpus = Assert.Throws<InvalidArgumentException>(() => ModelEditor.Run(Request(_tmp.Sub("bad-corpus")) with { Corpus = ["Kemefe."] }))!;
        Assert.That(corpus.Field, Is.EqualTo("corpus"));
        var subject = Assert.Throws<InvalidArgumentException>(() => ModelEditor.Run(Request(_tmp.Sub("bad-fact")) with { Facts = [new EditFact("Paris", "The city of Kemefe is in", "Medali")] }))!;
        Assert.That((subject.Field, subject.Value), Is.EqualTo(("[0].subject", "Paris")));
        Assert.That(new[] { "bad-layer", "bad-corpus", "bad-fact" }.Where(d => Path.Exists(_tmp.Sub(d))), Is.Empty, "no half-written folder");
        Assert.That(Directory.GetFileSystemEntries(_tmp.Path, ".bad-*"), Is.Empty, "no staging folder left behind");

        var busy = _tmp.Sub("busy");
        Directory.CreateDirectory(busy);
        File.WriteAllText(Path.Combine(busy, "notes.txt"), "mine");
        Assert.That(Assert.Throws<InvalidArgumentException>(() => ModelEditor.Run(Request(busy)))!.Field, Is.EqualTo("out"));
        Assert.That(Directory.GetFiles(busy).Select(Path.GetFileName), Is.EqualTo(new[] { "notes.txt" }));
        var export = Assert.Throws<InvalidArgumentException>(() => ModelEditor.Run(Request(_tmp.Sub("from-export")) with { Checkpoint = ModelExport() }))!;
        Assert.That(export.Field, Is.EqualTo("checkpoint"));
        Assert.That(export.Message, Does.Contain("not an exported one"));
    }
}
