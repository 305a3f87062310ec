using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxInterp.Analysis;
using OnnxInterp.Analysis.Confidence;
using OnnxInterp.Reports;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Analysis.Confidence;

/// <summary>`--preset paper` for the entropy step: its options, its Table 14 in the report, and bad input as typed errors.</summary>
public class EntropyPaperPresetTests
{
    [Test]
    public void PaperDefaults_AreIoUPysSettings_DefaultsUnchanged()
    {
        var step = new ConfidenceStep();
        var paper = step.Options(null, "paper");
        Assert.That((paper.Protocol, paper.Selection.Ratio, paper.Selection.Percentile, paper.Selection.Top, paper.Ablate),
            Is.EqualTo((AnalysisProtocol.Paper, EntropyRatio.NormOverLogitVar, 75.0, 10, false)));
        var overridden = step.Options(JsonNode.Parse("""{"selection": {"top": 5}, "ablate": true}""")!.AsObject(), "paper");
        Assert.That((overridden.Selection.Top, overridden.Selection.Ratio, overridden.Ablate, overridden.Protocol),
            Is.EqualTo((5, EntropyRatio.NormOverLogitVar, true, AnalysisProtocol.Paper)), "overrides merge over the paper's defaults");
        var standard = step.Options(null);
        Assert.That((standard.Protocol, standard.Selection.Ratio, standard.Ablate), Is.EqualTo((AnalysisProtocol.Default, EntropyRatio.NormOverLogLogitVar, true)));
    }

    [TestCase("""{"selection": {"ratio": 7}}""", "entropy.selection.ratio", "7")]
    [TestCase("""{"protocol": 9}""", "entropy.protocol", "9")]
    [TestCase("""{"protocol": "Handwavy"}""", "entropy.protocol", null)]
    [TestCase("""{"selection": {"ratio": "NormOverSomething"}}""", "entropy.selection.ratio", null)]
    public void Options_BadProtocolOrRatio_NameTheOptionAndValue(string json, string field, string? value)
    {
        var e = Assert.Throws<InvalidArgumentException>(() => new ConfidenceStep().Options(JsonNode.Parse(json)!.AsObject(), "paper"));
        Assert.That(e!.Field, Is.EqualTo(field));
        if (value is not null) Assert.That(e.Value, Is.EqualTo(value));
    }

    static LastLayerWeights Weights(Action<LastLayerWeights>? spoil = null)
    {
        var rng = new Random(5);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() - 0.4)).ToArray();
        var w = new LastLayerWeights("ckpt", 2, 12, 4, 9, R(48), R(4), R(36), false, 1e-5);
        spoil?.Invoke(w);
        return w;
    }

    [Test]
    public void Find_NonFiniteWeight_IsInvalidFileNamingTensorAndRow()
    {
        var down = Assert.Throws<InvalidFileException>(() => EntropyNeurons.Find("m", Weights(w => w.WOut[3 * 4 + 1] = float.NaN)));
        Assert.That((down!.File, down.Field, down.Value), Is.EqualTo(("ckpt", "model.layers.2.mlp.down_proj.weight", "neuron 3")));
        var head = Assert.Throws<InvalidFileException>(() => EntropyNeurons.Find("m", Weights(w => w.Unembed[7 * 4] = float.PositiveInfinity)));
        Assert.That((head!.Field, head.Value), Is.EqualTo(("lm_head.weight", "token 7")));
        var norm = Assert.Throws<InvalidFileException>(() => EntropyNeurons.Find("m", Weights(w => w.FinalNorm[2] = float.NaN)));
        Assert.That((norm!.Field, norm.Value), Is.EqualTo(("model.norm.weight", "entry 2")));
    }

    [Test]
    public void BadRatioOrProtocol_InTheApi_AreTypedErrors()
    {
        var ratio = Assert.Throws<InvalidArgumentException>(() => EntropyNeurons.Find("m", Weights(), new EntropyNeuronOptions { Ratio = (EntropyRatio)99 }));
        Assert.That((ratio!.Field, ratio.Value), Is.EqualTo(("ratio", "99")));
        Assert.Throws<InvalidArgumentException>(() => EntropyNeurons.Ratio(1, 1e-3, (EntropyRatio)5));
        var protocol = Assert.Throws<InvalidArgumentException>(() =>
            ConfidenceAnalysis.Run([new ConfidenceModel("m", Weights())], options: new ConfidenceOptions { Protocol = (AnalysisProtocol)4 }));
        Assert.That((protocol!.Field, protocol.Value), Is.EqualTo(("protocol", "4")));
        var nan = Assert.Throws<InvalidArgumentException>(() =>
            EntropyNeuronOverlap.Of("a", "b", new Dictionary<int, double> { [1] = double.NaN }, new Dictionary<int, double> { [1] = 2 }));
        Assert.That(nan!.Field, Is.EqualTo("ratio"));
        var a = EntropyNeurons.Find("a", Weights());
        var mixed = Assert.Throws<InvalidArgumentException>(() =>
            EntropyNeuronOverlap.Compare(a, EntropyNeurons.Find("b", Weights(), new EntropyNeuronOptions { Ratio = EntropyRatio.NormOverLogitVar })));
        Assert.That((mixed!.Field, mixed.Value), Is.EqualTo(("ratio", "NormOverLogitVar")));
    }

    static readonly PaperModel Llama = new("llama-3.1-8b", PaperFamily.Llama3, PostTraining.Base, 32, true);

    static EntropyNeuronSet Set(string name, PaperModel? paper, params (int Index, double Norm, double LogitVar)[] neurons) =>
        new EntropyNeuronSet(name, 31, Enumerable.Range(0, 16).Select(i => 0.5f + 0.01f * i).ToArray(), Enumerable.Range(0, 16).Select(i => 1e-3f).ToArray(), 0.6, 4,
            neurons.Select(n => new EntropyNeuron(n.Index, n.Norm, n.LogitVar, EntropyNeurons.Ratio(n.Norm, n.LogitVar, EntropyRatio.NormOverLogitVar))).ToList())
        { RatioKind = EntropyRatio.NormOverLogitVar, Paper = paper };

    static ConfidenceResult PaperResult()
    {
        // Ratios norm / LogitVar: base {1: 2000, 5: 1000, 7: 500}, instruct {5: 1200, 1: 2000, 9: 400}, mistral-sft {3: 1000}, other {2: 100}.
        var b = Set("base", Llama, (1, 2, 1e-3), (5, 1, 1e-3), (7, 0.5, 1e-3));
        var i = Set("instruct", Llama with { Key = "llama-3.1-8b-instruct", Role = PostTraining.Instruct }, (5, 1.2, 1e-3), (1, 2, 1e-3), (9, 0.4, 1e-3));
        var m = Set("mistral-sft", Llama with { Key = "mistral-7B-SFT", Family = PaperFamily.Mistral, Role = PostTraining.Sft }, (3, 1, 1e-3));
        var o = Set("other", null, (2, 0.1, 1e-3));
        var options = new ConfidenceStep().Options(null, "paper");
        return new ConfidenceResult(options, [b, i, m, o],
        [
            EntropyNeuronOverlap.Compare(b, i) with { Published = PaperEntropyResults.Find("llama-3.1-8b", "llama-3.1-8b-instruct") },
            EntropyNeuronOverlap.Compare(b, m),
            EntropyNeuronOverlap.Compare(b, o),
        ], null, null);
    }

    [Test]
    public void Markdown_PaperProtocol_Table14WithTheAuthorsNumbersAndTheDifference()
    {
        var md = ConfidenceReport.Markdown(PaperResult());
        Assert.That(md, Does.Contain("the paper's Table 14 (protocol: paper)").And.Contain("Protocol: **paper**"));
        Assert.That(md, Does.Contain("- candidates: norm above the 75th percentile").And.Contain("- entropy neurons: the 10 candidates")
            .And.Contain("- ratio r: norm / LogitVar").And.Contain("- pairs: the base against each post-trained model").And.Contain("- data: none"));
        // Ours: 2 shared, IoU 2/4, diff (0 + 200) / 2 = 100, mean (2000+1000+500+1200+2000+400)/6 = 1183.3. The authors':
        // IoU 0.667, avg. ratio difference 135.3 (EntropyPaperProtocolTests); differences −0.167 and −35.3.
        Assert.That(md, Does.Contain("| base | instruct | 2/3 | 0.500 | 100.0 | 1183.3 | 0.667 | −0.167 | 135.3 | −35.3 |"));
        Assert.That(md, Does.Contain("| base | mistral-sft | 0/3 | 0.000 | – | 1125.0 | not found | | not found | |"), "the paper's models, no numbers of theirs");
        Assert.That(md, Does.Contain("| base | other | 0/3 | 0.000 | – | 900.0 | – | | – | |"), "not the paper's models");
        Assert.That(md, Does.Contain("could not be read here").And.Contain(PaperEntropyResults.Source));
        Assert.That(md, Does.Contain("| base | llama-3.1-8b | 0.600 | 4 | 1 (2.000, 1.00e-3, 2000.0); 5 (1.000, 1.00e-3, 1000.0); 7 (0.500, 1.00e-3, 500.0) | " +
            "12111 993 207 2287 8677 10510 1852 11184 12664 8775 (0/10 shared) |"));
        Assert.That(md, Does.Contain("| other | – |").And.Contain("| mistral-sft | mistral-7B-SFT |").And.Contain("| not found |"));
    }

    [Test]
    public void Markdown_PaperProtocolWithTheLogRatio_DoesNotSubtractUnlikeRatios()
    {
        var r = PaperResult();
        var log = r with { Options = r.Options with { Selection = r.Options.Selection with { Ratio = EntropyRatio.NormOverLogLogitVar } } };
        Assert.That(ConfidenceReport.Markdown(log), Does.Contain("| 0.667 | −0.167 | 135.3 (norm / LogitVar) | n/a: our ratio is norm / ln LogitVar |"));
    }

    [Test]
    public void Markdown_DefaultProtocol_StatesItAndMentionsTheAuthorsIou()
    {
        var r = PaperResult();
        var md = ConfidenceReport.Markdown(r with { Options = new ConfidenceOptions() });
        Assert.That(md, Does.Contain("Protocol: **default**").And.Contain("- pairs: every pair of models").And.Contain("- ratio r: norm / ln LogitVar"));
        Assert.That(md, Does.Contain("The authors' committed results give IoU 0.667 for base vs instruct (ours 0.500)"));
    }

    [Test]
    public void Section_AndEntropyJson_CarryProtocolRatioAndTheAuthorsNumbers()
    {
        var r = PaperResult();
        var section = ConfidenceStep.WriteSection(ConfidenceSection.From(r));
        Assert.That((section["protocol"]!.GetValue<string>(), section["ratio"]!.GetValue<string>()), Is.EqualTo(("Paper", "NormOverLogitVar")));
        Assert.That(section["models"]![0]!["paperModel"]!.GetValue<string>(), Is.EqualTo("llama-3.1-8b"));
        Assert.That(section["models"]![3]!["paperModel"], Is.Null);
        var paper = section["overlaps"]![0]!["paper"]!;
        Assert.That((paper["iou"]!.GetValue<double>(), paper["overlap"]!.GetValue<int>(), paper["meanAbsRatioDiff"]!.GetValue<double>()),
            Is.EqualTo((2.0 / 3, 8, 135.30397172363223)).Within(1e-9));
        Assert.That(section["overlaps"]![1]!["paper"], Is.Null);

        using var tmp = new TempDir();
        ConfidenceReport.Write(tmp.Path, r);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(tmp.Path, ConfidenceReport.JsonFile)));
        Assert.That(json.RootElement.GetProperty("protocol").GetString(), Is.EqualTo("Paper"));
        var p = json.RootElement.GetProperty("overlaps")[0].GetProperty("paper");
        Assert.That(p.GetProperty("neuronsB").GetProperty("5463").GetDouble(), Is.EqualTo(5769.427472126558));
        Assert.That(json.RootElement.GetProperty("overlaps")[2].GetProperty("paper").ValueKind, Is.EqualTo(JsonValueKind.Null));
    }
}
