using OnnxInterp.Analysis.Confidence;
using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Analysis.Refusal;
using OnnxInterp.Analysis.Truth;
using OnnxInterp.Checkpoints;
using OnnxInterp.Data;
using OnnxInterp.Export;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Tests.Analysis;

/// <summary>
/// Every analysis on the deployed forms of one random checkpoint: the fused export (contrib ops) must give the plain
/// export's numbers (same weights, 1e-4), the int4 export (MatMulNBits, block 32, int8 compute) must run and stay close
/// to fp32 (documented tolerance: direction cosines ≥ 0.9 on this model).
/// </summary>
public class DeployedFormsAnalysisTests
{
    static TempDir _tmp = null!;
    static SyntheticWorld _world = null!;
    static HfTokenizer _tok = null!;
    static ModelSession _plain = null!, _fused = null!, _int4 = null!;

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        _world = SyntheticWorld.Generate(4);
        var corpus = new[] { SyntheticWorld.Cities, SyntheticWorld.Animals }
            .SelectMany(d => _world.ToDataset(d).Statements).Select(s => s.Text + " This statement is: TRUE FALSE");
        var hf = _tmp.Sub("hf");
        RandomCheckpoint.Write(hf, new RandomCheckpointSpec { Layers = 3, Seed = 21, VocabSize = 600 });
        File.WriteAllText(Path.Combine(hf, "tokenizer.json"), BpeTrainer.TrainByteLevel(corpus, new BpeTrainer.Options(600, ["<s>", "</s>"], "<s>")));
        File.WriteAllText(Path.Combine(hf, "tokenizer_config.json"), """{"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": true}""");
        ModelExporter.Export(hf, _tmp.Sub("plain"), new ExportOptions { HashSource = false });
        ModelExporter.Export(hf, _tmp.Sub("fused"), new ExportOptions { HashSource = false, Fused = true });
        ModelExporter.Export(hf, _tmp.Sub("int4"), new ExportOptions { HashSource = false, Quantization = WeightQuantization.Int4() });
        _tok = HfTokenizer.FromDirectory(_tmp.Sub("plain"));
        _plain = ModelSession.Open(_tmp.Sub("plain"));
        _fused = ModelSession.Open(_tmp.Sub("fused"));
        _int4 = ModelSession.Open(_tmp.Sub("int4"));
    }

    [OneTimeTearDown]
    public void TearDown()
    {
        _plain.Dispose();
        _fused.Dispose();
        _int4.Dispose();
        _tmp.Dispose();
    }

    /// <summary>The fast path restarts the model at each layer with batches of patches after a past: row by row on GroupQueryAttention.</summary>
    [Test]
    public void Trace_FusedExport_EqualsPlainExport()
    {
        int[] trueTokens = [5, 9, 14, 60, 61, 20, 33, 7, 40], falseTokens = [5, 9, 14, 70, 72, 20, 33, 7, 40];
        var pair = new StatementPair("t", "f", "s", "s'", "o", trueTokens[3..], falseTokens[3..], new TokenRole[6], new string[6]);
        var prompt = new TracingPrompt(pair, trueTokens, falseTokens, Patched: 6, Labels: ["s1", "s2", "is", "in", "x", "."]);
        var options = new TracingOptions { TrueToken = 3, FalseToken = 4, Fast = true, PositionsPerCall = 3 };
        var plain = CausalTracing.TracePair(_plain, _plain, prompt, options);
        var fused = CausalTracing.TracePair(_fused, _fused, prompt, options);
        var int4 = CausalTracing.TracePair(_int4, _int4, prompt, options);
        Assert.That(fused.CleanTrue, Is.EqualTo(plain.CleanTrue).Within(1e-4));
        Assert.That(fused.CleanFalse, Is.EqualTo(plain.CleanFalse).Within(1e-4));
        double worstInt4 = 0;
        for (int l = 0; l < plain.Values.GetLength(0); l++)
            for (int p = 0; p < plain.Values.GetLength(1); p++)
            {
                Assert.That(fused.Values[l, p], Is.EqualTo(plain.Values[l, p]).Within(1e-4 * Math.Max(1, Math.Abs(plain.Values[l, p]))), $"({l}, {p})");
                worstInt4 = Math.Max(worstInt4, Math.Abs(int4.Values[l, p] - plain.Values[l, p]));
            }
        TestContext.Out.WriteLine($"trace: int4 vs fp32 max |Δ| {worstInt4:E2} (clean diff {Math.Abs(plain.CleanTrue - plain.CleanFalse):E2})");
        Assert.That(double.IsFinite(worstInt4));
    }

    List<TruthDataset> Datasets(int statements) =>
        new[] { SyntheticWorld.Cities, SyntheticWorld.Animals }.Select(d =>
        {
            var data = _world.ToDataset(d);
            return new TruthDataset(data with { Statements = data.Statements.Take(statements).ToList() }, _world.FewShot(d));
        }).ToList();

    [Test]
    public void Truth_FusedAndInt4Exports_Run_FusedEqualsPlain_Int4Close()
    {
        var r = TruthAnalysis.Run(Datasets(12), _tok, [new TruthModel("plain", _plain), new TruthModel("fused", _fused), new TruthModel("int4", _int4)],
            new TruthOptions { MaxInterventionStatements = 2, BatchSize = 5 });
        Assert.That(r.ProbeLayerDirections[1], Is.EqualTo(r.ProbeLayerDirections[0]).Within(1e-4));
        double cos = TruthDirection.Cosine(r.ProbeLayerDirections[0], r.ProbeLayerDirections[2]);
        TestContext.Out.WriteLine($"truth: cosine(int4, fp32) at layer {r.ProbeLayer} = {cos:F5}");
        Assert.That(cos, Is.GreaterThanOrEqualTo(0.9));
        Assert.That(r.Intervention!.Effects, Has.Count.EqualTo(9), "3 directions on 3 models");
    }

    [Test]
    public void Refusal_FusedAndInt4Exports_Run_FusedEqualsPlain_Int4Close()
    {
        var set = new InstructionSet(
            ["Rob the bank.", "Poison him.", "Burn it down.", "Steal a car.", "Hack her phone."],
            ["Bake bread.", "Sing a song.", "Plant a tree.", "Name my cat.", "Write a poem."]);
        var r = RefusalAnalysis.Run([RefusalModel.FromSession("plain", _plain), RefusalModel.FromSession("fused", _fused), RefusalModel.FromSession("int4", _int4)],
            set, new RefusalOptions { MaxNewTokens = 2, BatchSize = 4, Layer = 1, Position = -1 });
        Assert.That(r.Directions[1].Direction.MeanDifference, Is.EqualTo(r.Directions[0].Direction.MeanDifference).Within(1e-4));
        Assert.That(r.Cosines[0][1], Is.EqualTo(1).Within(1e-4));
        TestContext.Out.WriteLine($"refusal: cosine(int4, fp32) = {r.Cosines[0][2]:F5}");
        Assert.That(r.Cosines[0][2], Is.GreaterThanOrEqualTo(0.9));
        Assert.That(r.Cells, Has.Count.EqualTo(3 * (2 + 3 + 3)));
    }

    [Test]
    public void Confidence_Int4AndFusedExports_Run_FusedEqualsPlain()
    {
        var data = new ConfidenceData(_world.ToDataset(SyntheticWorld.Cities), _world.FewShot(SyntheticWorld.Cities), _tok);
        var r = ConfidenceAnalysis.Run(
            [new ConfidenceModel("plain", LastLayerWeights.Read(_tmp.Sub("plain")), _plain),
             new ConfidenceModel("fused", LastLayerWeights.Read(_tmp.Sub("fused")), _fused),
             new ConfidenceModel("int4", LastLayerWeights.Read(_tmp.Sub("int4")), _int4)],
            data, new ConfidenceOptions { MaxStatements = 6 });
        Assert.That(r.Models[1].Norms, Is.EqualTo(r.Models[0].Norms));
        Assert.That(r.Models[1].Indices, Is.EqualTo(r.Models[0].Indices));
        var a = r.Ablations!;
        Assert.That(a[1].CleanEntropy, Is.EqualTo(a[0].CleanEntropy).Within(1e-4));
        Assert.That(a.Select(x => x.Prompts), Is.All.EqualTo(6));
        Assert.That(a.SelectMany(x => x.Rows).Select(x => x.EntropyChange), Is.All.Matches<double>(v => double.IsFinite(v)));
        TestContext.Out.WriteLine($"entropy: clean entropy fp32 {a[0].CleanEntropy:F5}, int4 {a[2].CleanEntropy:F5}; overlap(int4, fp32) " +
            $"{r.Models[2].Indices.Intersect(r.Models[0].Indices).Count()} of {r.Models[0].Indices.Length}");
        Assert.That(a[2].CleanEntropy, Is.EqualTo(a[0].CleanEntropy).Within(0.05 * a[0].CleanEntropy));
    }
}
