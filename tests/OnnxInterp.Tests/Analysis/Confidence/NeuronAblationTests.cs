using OnnxInterp.Analysis.Confidence;
using OnnxInterp.Checkpoints;
using OnnxInterp.Export;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Reference;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Analysis.Confidence;

public class NeuronAblationTests
{
    const string MlpHook = "blocks.1.mlp.hook_post", ResidHook = "blocks.1.hook_resid_post";
    static readonly int[] Neurons = [3, 40, 77];

    TempDir _tmp = null!;
    TinyCheckpoint _ckpt = null!;
    ModelSession _session = null!;
    ModelSession _monolithic = null!;
    ReferenceModel _reference = null!;
    LastLayerWeights _weights = null!;

    IHookedModel Model(string kind) => kind == HookedModels.Reference ? _reference : _session;

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        _ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama") { NumLayers = 2, Seed = 31 });
        var dir = TestCheckpoints.Export(_ckpt, _tmp, new ExportOptions { HashSource = false });
        _session = ModelSession.Open(dir);
        _weights = LastLayerWeights.Read(dir);
        // Without per-layer graphs every ablated row runs the whole model.
        var mono = _tmp.Sub("onnx-mono");
        ModelExporter.Export(_tmp.Sub("hf"), mono, new ExportOptions { HashSource = false, LayerGraphs = false });
        _monolithic = ModelSession.Open(mono);
        Assert.That((_session.HasLayerGraphs, _monolithic.HasLayerGraphs), Is.EqualTo((true, false)));
        _reference = ReferenceModel.Open(_tmp.Sub("hf"));
    }

    [OneTimeTearDown]
    public void TearDown()
    {
        _session.Dispose();
        _monolithic.Dispose();
        _tmp.Dispose();
    }

    static IReadOnlyList<JudgingPrompt> Prompts() =>
    [
        new("a", true, ReferenceTestUtil.Tokens(1, 7, 97)),
        new("b", false, ReferenceTestUtil.Tokens(2, 9, 97)),
        new("c", true, ReferenceTestUtil.Tokens(3, 5, 97)),
    ];

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void Replace_CapturedHook_HoldsTheValueAtThatNeuronOnly(string kind)
    {
        var tokens = ReferenceTestUtil.Tokens(5, 6, 97);
        var ivs = NeuronAblation.Replace(MlpHook, 96, [40, 7], [0.25f, -1.5f], rows: [1]);
        var r = Model(kind).Run(new ForwardRequest([tokens, tokens]) { Hooks = [MlpHook], Interventions = ivs });
        var h = r.Cache[MlpHook];
        for (int s = 0; s < 6; s++)
        {
            var clean = h.Vector(0, s);
            var ablated = h.Vector(1, s);
            Assert.That(ablated[40], Is.EqualTo(0.25f), $"position {s}");
            Assert.That(ablated[7], Is.EqualTo(-1.5f), $"position {s}");
            for (int i = 0; i < 96; i++)
                if (i is not (40 or 7)) Assert.That(ablated[i], Is.EqualTo(clean[i]).Within(1e-6), $"position {s}, neuron {i}");
            Assert.That(clean[40], Is.Not.EqualTo(0.25f));
        }
    }

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void MeanActivations_AreMeansOverScoredTokens(string kind)
    {
        var prompts = Prompts().Select(p => p.Tokens).ToList();
        var means = NeuronAblation.MeanActivations(Model(kind), prompts, Neurons, new AblationOptions { BatchRows = 2 });
        var m = ReferenceTestUtil.Model(_ckpt);
        var expected = new double[Neurons.Length];
        int count = 0;
        foreach (var t in prompts)
        {
            var act = ReferenceTestUtil.Run(m, t).Hooks[MlpHook][0];
            for (int s = 1; s < t.Length; s++, count++)
                for (int k = 0; k < Neurons.Length; k++) expected[k] += act[s][Neurons[k]];
        }
        for (int k = 0; k < Neurons.Length; k++) Assert.That(means[k], Is.EqualTo(expected[k] / count).Within(1e-4), $"neuron {Neurons[k]}");
    }

    static double Entropy(double[] logits)
    {
        double max = logits.Max(), z = logits.Sum(x => Math.Exp(x - max));
        return -logits.Sum(x => Math.Exp(x - max) / z * (x - max - Math.Log(z)));
    }

    static double Norm(double[] x) => Math.Sqrt(x.Sum(v => v * v));

    [TestCase("onnx with layer graphs")]
    [TestCase("onnx without")]
    [TestCase(HookedModels.Reference)]
    public void Run_Changes_MatchTheReferenceForwardPass(string model)
    {
        var prompts = Prompts();
        const int trueId = 5, falseId = 6;
        IHookedModel session = model switch { "onnx with layer graphs" => _session, "onnx without" => _monolithic, _ => _reference };
        var result = NeuronAblation.Run("tiny", session, _weights, Neurons, prompts, trueId, falseId,
            new AblationOptions { BatchRows = 10 });
        Assert.That(result.Rows.Select(r => r.Label), Is.EqualTo(new[] { "3", "40", "77", "all" }));
        Assert.That(result.Tokens, Is.EqualTo(6 + 8 + 4));

        // The reference: double-precision forward passes with the neurons replaced at every position.
        var m = ReferenceTestUtil.Model(_ckpt);
        var means = result.Rows[^1].Means.Select(v => (double)v).ToArray();
        var w = _ckpt.Weights;
        double[] g = w[WeightNames.FinalNorm].Select(v => (double)v).ToArray();
        var head = w[WeightNames.LmHead];
        var down = w["model.layers.1.mlp.down_proj.weight"];  // [64, 96]
        double[] Z(int neuron) => Enumerable.Range(0, 97).Select(v => Enumerable.Range(0, 64).Sum(j => (double)head[v * 64 + j] * g[j] * down[j * 96 + neuron])).ToArray();
        var z = Neurons.Select(Z).ToArray();
        var variants = new[] { new[] { 0 }, [1], [2], [0, 1, 2] };
        for (int v = 0; v < variants.Length; v++)
        {
            double dH = 0, dDirect = 0, dNorm = 0, dAns = 0, dConf = 0;
            foreach (var p in prompts)
            {
                var clean = ReferenceTestUtil.Run(m, p.Tokens);
                var ivs = new List<ReferenceIntervention>();
                var scale = Enumerable.Repeat(1.0, 96).ToArray();
                var add = new double[96];
                foreach (int k in variants[v]) { scale[Neurons[k]] = 0; add[Neurons[k]] = means[k]; }
                for (int s = 0; s < p.Tokens.Length; s++) ivs.Add(new ReferenceIntervention(MlpHook, 0, s, Scale: scale, Add: add));
                var abl = ReferenceTestUtil.Run(m, p.Tokens, interventions: ivs);
                for (int s = 1; s < p.Tokens.Length; s++)
                {
                    double h0 = Entropy(clean.Logits[0][s]);
                    dH += Entropy(abl.Logits[0][s]) - h0;
                    var resid = clean.Hooks[ResidHook][0][s];
                    dNorm += Norm(abl.Hooks[ResidHook][0][s]) - Norm(resid);
                    double rms = Math.Sqrt(resid.Sum(x => x * x) / 64 + 1e-5);
                    var direct = (double[])clean.Logits[0][s].Clone();
                    foreach (int k in variants[v])
                    {
                        double delta = (means[k] - clean.Hooks[MlpHook][0][s][Neurons[k]]) / rms;
                        for (int t = 0; t < 97; t++) direct[t] += delta * z[k][t];
                    }
                    dDirect += Entropy(direct) - h0;
                }
                int last = p.Tokens.Length - 1;
                dAns += Entropy(abl.Logits[0][last]) - Entropy(clean.Logits[0][last]);
                double Conf(double[] l) { double q = 1 / (1 + Math.Exp(l[falseId] - l[trueId])); return Math.Max(q, 1 - q); }
                dConf += Conf(abl.Logits[0][last]) - Conf(clean.Logits[0][last]);
            }
            var row = result.Rows[v];
            Assert.That(row.EntropyChange, Is.EqualTo(dH / result.Tokens).Within(2e-5), $"{row.Label}: entropy");
            Assert.That(row.DirectEntropyChange, Is.EqualTo(dDirect / result.Tokens).Within(2e-5), $"{row.Label}: direct entropy");
            Assert.That(row.ResidNormChange, Is.EqualTo(dNorm / result.Tokens).Within(2e-5), $"{row.Label}: residual norm");
            Assert.That(row.AnswerEntropyChange, Is.EqualTo(dAns / 3).Within(2e-5), $"{row.Label}: answer entropy");
            Assert.That(row.ConfidenceChange, Is.EqualTo(dConf / 3).Within(2e-5), $"{row.Label}: confidence");
            TestContext.Out.WriteLine($"{row.Label}: dH {row.EntropyChange:E3} (ref {dH / result.Tokens:E3}), direct {row.DirectEntropyChange:E3}, dNorm {row.ResidNormChange:E3}");
        }
        // The effects are 50× the tolerance and more, so the comparisons could fail.
        Assert.That(result.Rows.Min(r => Math.Abs(r.EntropyChange)), Is.GreaterThan(1e-3 / 3));
        Assert.That(result.Rows.Min(r => Math.Abs(r.ResidNormChange)), Is.GreaterThan(1e-3));
    }

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void Run_WeightsOfAnotherShape_IsTypedError(string kind)
    {
        var other = _weights with { Neurons = 95 };
        Assert.Throws<IncompatibleModelsException>(() => NeuronAblation.Run("x", Model(kind), other, Neurons, Prompts(), 5, 6));
        Assert.Throws<InvalidArgumentException>(() => NeuronAblation.Run("x", Model(kind), _weights, Neurons, Prompts(), 5, 97));
    }
}
