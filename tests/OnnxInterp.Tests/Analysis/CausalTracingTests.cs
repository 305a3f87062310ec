using System.Collections.Immutable;
using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Checkpoints;
using OnnxInterp.Data;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Reference;
using OnnxInterp.Tests.Support;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Tests.Analysis;

public class CausalTracingTests
{
    static TempDir _tmp = null!;
    static readonly Dictionary<string, (IHookedModel A, IHookedModel B)> _models = [];
    static HfTokenizer _tok = null!;
    static IReadOnlyList<TracingPrompt> _prompts = null!;

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        foreach (var (name, seed) in new[] { ("a", 11), ("b", 12) })
            RandomCheckpoint.Write(_tmp.Sub(name + "-hf"), new RandomCheckpointSpec { Layers = 3, Seed = seed });
        foreach (var kind in HookedModels.Kinds)
            _models[kind] = (HookedModels.Open(kind, _tmp.Sub("a-hf"), _tmp.Sub("a")), HookedModels.Open(kind, _tmp.Sub("b-hf"), _tmp.Sub("b")));
        _tok = HfTokenizer.FromDirectory(_tmp.Sub("a"));
        static Statement S(string t, int l) => new(t, l, ImmutableDictionary<string, string>.Empty);
        var data = new StatementDataset("cities", [S("The city of Paris is in France.", 1), S("The city of Lyons is in Italy.", 1),
            S("The city of Turin is in France.", 0), S("The city of Milan is in Italy.", 0)], []);
        var pairs = PairCuration.Curate(data, _tok).Pairs;
        _prompts = TracingPrompts.Build(pairs, [("The city of Oslo is in Norway.", true), ("The city of Oslo is in Peru.", false)], _tok, seed: 3);
    }

    [OneTimeTearDown]
    public void TearDown()
    {
        foreach (var (a, b) in _models.Values)
        {
            HookedModels.Dispose(a);
            HookedModels.Dispose(b);
        }
        _models.Clear();
        _tmp.Dispose();
    }

    TracingOptions Options(TracingMetric metric, bool fast) => new()
    {
        Metric = metric, Fast = fast, TrueToken = _tok.Encode(" TRUE", false)[0], FalseToken = _tok.Encode(" FALSE", false)[0],
    };

    [Test]
    public void Prompts_AreThePapersShapeWithLabelledPositions()
    {
        Assert.That(_prompts, Has.Count.EqualTo(2));
        var p = _prompts[0];
        Assert.That(_tok.Decode(p.TrueTokens, skipSpecialTokens: true), Does.EndWith("FALSE\nThe city of Paris is in France. This statement is:").Or.EndWith("TRUE\nThe city of Paris is in France. This statement is:"));
        // The sample tokenizer has no merges: one token per byte, so template words are spelled out.
        Assert.That(p.Labels[..3], Is.EqualTo(new[] { "T", "h", "e" }));
        Assert.That(p.Labels[11..17], Is.EqualTo(new[] { "s1", "s2", "s3", "s4", "s5", "s6" }));
        Assert.That(p.Labels, Does.Contain("o7"));
        Assert.That(p.Labels.Count(l => l.StartsWith('s') && l.Length > 1 && char.IsDigit(l[1])), Is.EqualTo(6), "' Paris' is six byte tokens");
        Assert.That(p.Labels, Has.Length.EqualTo(p.Patched));
    }

    [Test]
    public void Fast_EqualsTheNaiveLoop_SameModelAndTransfer([ValueSource(typeof(HookedModels), nameof(HookedModels.Kinds))] string kind, [Values] TracingMetric metric)
    {
        var (a, b) = _models[kind];
        foreach (var (source, target) in new[] { (a, a), (a, b), (b, a) })
        {
            var fast = CausalTracing.TracePair(source, target, _prompts[0], Options(metric, fast: true));
            var naive = CausalTracing.TracePair(source, target, _prompts[0], Options(metric, fast: false));
            Assert.That(fast.CleanFalse, Is.EqualTo(naive.CleanFalse).Within(1e-4));
            for (int l = 0; l < naive.Values.GetLength(0); l++)
                for (int p = 0; p < naive.Values.GetLength(1); p++)
                    Assert.That(fast.Values[l, p], Is.EqualTo(naive.Values[l, p]).Within(1e-4 * Math.Max(1, Math.Abs(naive.Values[l, p]))), $"({l}, {p})");
        }
    }

    /// <summary>ONNX only: the reference has no per-layer graphs, so both paths would be the same one.</summary>
    [Test]
    public void SkippingLayersBelow_EqualsRecomputingThem()
    {
        var (a, b) = _models[HookedModels.Onnx];
        Assert.That(b.Layers, Is.SameAs(b), "the export has per-layer graphs, so the layered path is the one under test");
        foreach (var prompt in _prompts)
        {
            var layered = CausalTracing.TracePair(a, b, prompt, Options(TracingMetric.LogitDiff, fast: true));
            var batched = CausalTracing.TracePair(a, b, prompt, Options(TracingMetric.LogitDiff, fast: true) with { SkipLayersBelow = false });
            foreach (int chunk in new[] { 1, 3, 100 })
            {
                var chunked = CausalTracing.TracePair(a, b, prompt, Options(TracingMetric.LogitDiff, fast: true) with { PositionsPerCall = chunk });
                for (int l = 0; l < layered.Values.GetLength(0); l++)
                    for (int p = 0; p < layered.Values.GetLength(1); p++)
                        Assert.That(chunked.Values[l, p], Is.EqualTo(batched.Values[l, p]).Within(1e-4 * Math.Max(1, Math.Abs(batched.Values[l, p]))), $"chunk {chunk} ({l}, {p})");
            }
            for (int l = 0; l < layered.Values.GetLength(0); l++)
                for (int p = 0; p < layered.Values.GetLength(1); p++)
                    Assert.That(layered.Values[l, p], Is.EqualTo(batched.Values[l, p]).Within(1e-4 * Math.Max(1, Math.Abs(batched.Values[l, p]))));
        }
    }

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void PatchingTheLastStateOfTheLastLayer_ReproducesTheTrueRun(string kind)
    {
        var a = _models[kind].A;
        var t = CausalTracing.TracePair(a, a, _prompts[1], Options(TracingMetric.LogitDiff, fast: true));
        int last = t.Values.GetLength(1) - 1, top = t.Values.GetLength(0) - 1;
        Assert.That(t.Values[top, last], Is.EqualTo(t.CleanTrue).Within(1e-4));
        var kl = CausalTracing.TracePair(a, a, _prompts[1], Options(TracingMetric.KL, fast: true));
        Assert.That(kl.Values[top, last], Is.EqualTo(0).Within(1e-6));
        Assert.That(kl.CleanFalse, Is.GreaterThan(0));
    }

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void APatch_EqualsTheReferenceForwardWithThatReplacement(string kind)
    {
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama") { Seed = 41 });
        using var tmp = new TempDir();
        var model = HookedModels.Open(kind, TestCheckpoints.Write(ckpt, tmp.Sub("hf")), tmp.Sub("onnx"));
        var reference = new ReferenceTransformer(ckpt.Config, ckpt.Weights);
        int[] trueTokens = [5, 9, 14, 60, 61, 20, 33, 7], falseTokens = [5, 9, 14, 70, 72, 20, 33, 7];
        var pair = new StatementPair("t", "f", "s", "s'", "o", trueTokens[3..], falseTokens[3..], new TokenRole[5], new string[5]);
        var prompt = new TracingPrompt(pair, trueTokens, falseTokens, Patched: 5, Labels: ["s1", "s2", "is", "in", "."]);
        var trace = CausalTracing.TracePair(model, model, prompt, new TracingOptions { TrueToken = 3, FalseToken = 4, Fast = true });

        int[] Ones(int n) => Enumerable.Repeat(1, n).ToArray();
        int[] Pos(int n) => Enumerable.Range(0, n).ToArray();
        var trueRef = reference.Forward([trueTokens], [Ones(8)], [Pos(8)]);
        foreach (var (l, p) in new[] { (0, 0), (1, 1), (2, 4), (0, 3) })
        {
            string hook = $"blocks.{l}.hook_resid_post";
            var patched = reference.Forward([falseTokens], [Ones(8)], [Pos(8)], [new ReferenceIntervention(hook, 0, 3 + p, Replace: trueRef.Hooks[hook][0][3 + p])]);
            double expected = patched.Logits[0][7][3] - patched.Logits[0][7][4];
            Assert.That(trace.Values[l, p], Is.EqualTo(expected).Within(1e-4 * Math.Max(1, Math.Abs(expected))), $"({l}, {p})");
        }
        HookedModels.Dispose(model);
    }
}
