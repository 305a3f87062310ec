using OnnxInterp.Analysis.Confidence;
using OnnxInterp.Export;
using OnnxInterp.Reports;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Reference;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Analysis.Confidence;

/// <summary>
/// The entropy-neuron signature on two tiny models: a random one (no neuron set apart) and the same model with one
/// constructed entropy neuron: a last-layer neuron writing, with a large norm, along a hidden direction the
/// unembedding does not read (its column of lm_head set to 0, a true null space), so it changes nothing but the
/// final residual's norm, hence the scale of every logit and the output entropy (Stolfo et al. 2024's mechanism).
/// </summary>
public class EntropySignatureTests
{
    const int Planted = 17;

    TempDir _tmp = null!;
    readonly Dictionary<string, Models> _models = [];

    /// <summary>Both models of one kind, and their last layers' weights read through the model (<see cref="IHookedModel.Weights"/>).</summary>
    sealed record Models(IHookedModel Random, IHookedModel Planted)
    {
        public LastLayerWeights RandomWeights { get; } = LastLayerWeights.Read(Random.Weights);
        public LastLayerWeights PlantedWeights { get; } = LastLayerWeights.Read(Planted.Weights);
    }

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        var spec = new TinyCheckpointSpec("llama") { NumLayers = 2, Seed = 31 };
        var random = TinyCheckpointFactory.Create(spec);
        var planted = TinyCheckpointFactory.Create(spec);
        int d = spec.HiddenSize, n = spec.IntermediateSize, vocab = spec.VocabSize, dark = d - 1;
        var head = planted.Weights["lm_head.weight"];
        for (int v = 0; v < vocab; v++) head[v * d + dark] = 0f;
        var down = planted.Weights["model.layers.1.mlp.down_proj.weight"];  // [hidden, neurons]
        double typical = Math.Sqrt(Enumerable.Range(0, d).Sum(r => (double)down[r * n] * down[r * n]));
        for (int r = 0; r < d; r++) down[r * n + Planted] = r == dark ? (float)(40 * typical) : 0f;
        TestCheckpoints.Write(planted, _tmp.Sub("planted-hf"));
        TestCheckpoints.Write(random, _tmp.Sub("random-hf"));
        foreach (var kind in HookedModels.Kinds)
            _models[kind] = new Models(HookedModels.Open(kind, _tmp.Sub("random-hf"), _tmp.Sub("random")), HookedModels.Open(kind, _tmp.Sub("planted-hf"), _tmp.Sub("planted")));
    }

    [OneTimeTearDown]
    public void TearDown()
    {
        foreach (var m in _models.Values)
        {
            HookedModels.Dispose(m.Random);
            HookedModels.Dispose(m.Planted);
        }
        _models.Clear();
        _tmp.Dispose();
    }

    static IReadOnlyList<JudgingPrompt> Prompts() =>
        Enumerable.Range(0, 12).Select(i => new JudgingPrompt($"s{i}", i % 2 == 0, ReferenceTestUtil.Tokens(40 + i, 6 + i % 5, 97))).ToList();

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void Measure_EveryNeuronsEntropyChange_EqualsTheOrtMeanAblation(string kind)
    {
        var m = _models[kind];
        // The signature ablates every neuron from one clean pass; the ablation runs the last layer and head through ORT.
        var prompts = Prompts();
        var set = EntropyNeurons.Find("random", m.RandomWeights, new EntropyNeuronOptions { Top = 5 });
        int[] neurons = [.. set.Indices, 3, 40];
        var options = new AblationOptions { BatchRows = 16 };
        var sig = EntropySignatures.Measure("random", m.Random, m.RandomWeights, set, prompts, new SignatureOptions { Prompts = prompts.Count }, options);
        var ort = NeuronAblation.Run("random", m.Random, m.RandomWeights, neurons, prompts, 5, 6, options);
        Assert.That(sig.Tokens, Is.EqualTo(ort.Tokens));
        foreach (var row in ort.Rows.Where(r => r.Neurons.Length == 1))
            Assert.That(sig.AbsEntropyChanges[row.Neurons[0]], Is.EqualTo(row.AbsEntropyChange).Within(1e-5 + 1e-3 * row.AbsEntropyChange), $"neuron {row.Neurons[0]}");
        Assert.That(sig.MedianAbsEntropyChange, Is.EqualTo(EntropyNeurons.Quantile(sig.AbsEntropyChanges, 0.5)).Within(1e-12));
        Assert.That(sig.Selected.Select(s => s.Index), Is.EqualTo(set.Indices));
    }

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void Measure_RandomModel_NoSelectedNeuronHasTheSignature(string kind)
    {
        var m = _models[kind];
        var set = EntropyNeurons.Find("random", m.RandomWeights);
        var sig = EntropySignatures.Measure("random", m.Random, m.RandomWeights, set, Prompts());
        Assert.That(sig.SelectedWithSignature, Is.Zero);
        Assert.That(sig.NoneSelectedHasSignature, Is.True);
        Assert.That(sig.LayerWithSignature, Is.Zero);
        Assert.That(sig.Strongest.EntropyFactor, Is.LessThan(5), "no neuron of a random layer moves entropy 5x the median");
    }

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void Measure_PlantedEntropyNeuron_IsSelectedAndHasTheSignature(string kind)
    {
        var m = _models[kind];
        var set = EntropyNeurons.Find("planted", m.PlantedWeights);
        var sig = EntropySignatures.Measure("planted", m.Planted, m.PlantedWeights, set, Prompts());
        Assert.That(set.Indices, Does.Contain(Planted), "a norm outlier with LogitVar 0 is selected");
        var planted = sig.Selected.Single(s => s.Index == Planted);
        Assert.That(planted.NormZ, Is.GreaterThan(2));
        Assert.That(planted.LogitVarZ, Is.LessThan(-2));
        Assert.That(planted.EntropyFactor, Is.GreaterThan(5));
        Assert.That(planted.HasSignature, Is.True);
        Assert.That(sig.SelectedWithSignature, Is.EqualTo(1));
        Assert.That(sig.Strongest.Index, Is.EqualTo(Planted));
        Assert.That(sig.NoneSelectedHasSignature, Is.False);
    }

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void Run_FlagAndReport_SayWhetherAnySelectedNeuronHasTheSignature(string kind)
    {
        var m = _models[kind];
        var prompts = Prompts();
        ConfidenceResult Run(IHookedModel s, LastLayerWeights w, string name)
        {
            var options = new ConfidenceOptions();
            var set = EntropyNeurons.Find(name, w, options.Selection);
            var ablation = NeuronAblation.Run(name, s, w, set.Indices, prompts, 5, 6, options.Ablation);
            var sig = EntropySignatures.Measure(name, s, w, set, prompts, options.Signature, options.Ablation);
            return new ConfidenceResult(options, [set], [], "tiny", [ablation]) { Signatures = [sig] };
        }
        var none = Run(m.Random, m.RandomWeights, "random");
        var one = Run(m.Planted, m.PlantedWeights, "planted");
        Assert.That(none.NoSelectedNeuronHasSignature, Is.True);
        Assert.That(one.NoSelectedNeuronHasSignature, Is.False);
        Assert.That(ConfidenceReport.Markdown(none), Does.Contain("**No selected neuron has the entropy-neuron signature**"));
        Assert.That(ConfidenceReport.Markdown(one), Does.Not.Contain("No selected neuron has").And.Contain("planted 1/10"));
        var section = ConfidenceStep.WriteSection(ConfidenceSection.From(none));
        Assert.That(section["noSelectedNeuronHasSignature"]!.GetValue<bool>(), Is.True);
        Assert.That(ConfidenceSection.From(one).NoSelectedNeuronHasSignature, Is.False);
        Assert.That(section["signatures"]![0]!["selected"]!.AsArray(), Has.Count.EqualTo(10));
    }

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void Measure_BadOptions_AreTypedErrorsNamingTheOption(string kind)
    {
        var m = _models[kind];
        var set = EntropyNeurons.Find("random", m.RandomWeights);
        var e = Assert.Throws<InvalidArgumentException>(() =>
            EntropySignatures.Measure("random", m.Random, m.RandomWeights, set, Prompts(), new SignatureOptions { EntropyFactor = 0 }))!;
        Assert.That(e.Field, Is.EqualTo("signature.entropyFactor"));
        e = Assert.Throws<InvalidArgumentException>(() =>
            EntropySignatures.Measure("random", m.Random, m.RandomWeights, set, Prompts(), new SignatureOptions { Prompts = 0 }))!;
        Assert.That(e.Field, Is.EqualTo("signature.prompts"));
    }
}
