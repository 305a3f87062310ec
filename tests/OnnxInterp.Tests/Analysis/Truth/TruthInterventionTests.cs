using OnnxInterp.Analysis.Truth;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Reference;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Analysis.Truth;

/// <summary>The intervention on a tiny random checkpoint: where the direction lands, and p_diff over padded batches.</summary>
public class TruthInterventionTests
{
    TempDir _tmp = null!;
    readonly Dictionary<string, IHookedModel> _models = [];

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec { NumLayers = 3, Seed = 77 });
        TestCheckpoints.Write(ckpt, _tmp.Sub("hf"));
        foreach (var kind in HookedModels.Kinds) _models[kind] = HookedModels.Open(kind, _tmp.Sub("hf"), _tmp.Sub("onnx"));
    }

    [OneTimeTearDown]
    public void TearDown()
    {
        foreach (var model in _models.Values) HookedModels.Dispose(model);
        _models.Clear();
        _tmp.Dispose();
    }

    static int[] Tokens(Random rng, int n) => Enumerable.Range(0, n).Select(_ => rng.Next(1, 97)).ToArray();

    /// <summary>Rows of different lengths whose statement positions differ, so the batch is padded and grouped.</summary>
    static List<TruthPrompt> Prompts()
    {
        var rng = new Random(3);
        return
        [
            new("a", true, Tokens(rng, 12), [-6, -5]),
            new("b", false, Tokens(rng, 9), [-4, -3]),
            new("c", true, Tokens(rng, 10), [-6, -5]),
        ];
    }

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void Build_AddsTheScaledVector_AtEachRowsPositions_InTheGivenLayersOnly(string kind)
    {
        var session = _models[kind];
        var prompts = Prompts();
        var rng = new Random(9);
        var vector = Enumerable.Range(0, 64).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        const float factor = -0.75f;
        var ivs = TruthIntervention.Build(prompts, vector, [1, 2], factor);
        // 2 layers × 2 position groups.
        Assert.That(ivs.Select(i => (i.Hook.ToString(), string.Join(",", i.Rows!), string.Join(",", i.Positions!))), Is.EquivalentTo(new[]
        {
            ("blocks.1.hook_resid_post", "0,2", "-6,-5"), ("blocks.1.hook_resid_post", "1", "-4,-3"),
            ("blocks.2.hook_resid_post", "0,2", "-6,-5"), ("blocks.2.hook_resid_post", "1", "-4,-3"),
        }));
        Assert.That(ivs.All(i => i.Op == InterventionOp.Add && i.Factor == factor && ReferenceEquals(i.Vector, vector)));

        var request = ForwardRequest.FromPrompts(prompts.Select(p => p.Tokens).ToList()) with { Hooks = ["blocks.*.hook_resid_post"] };
        var clean = session.Run(request);
        var steered = session.Run(request with { Interventions = ivs });
        int seq = request.InputIds[0].Length;
        for (int b = 0; b < prompts.Count; b++)
        {
            int first = seq + prompts[b].Positions[0];
            var touched = prompts[b].Positions.Select(p => seq + p).ToHashSet();
            for (int s = 0; s < seq; s++)
            {
                // Layer 0 is below the range: untouched everywhere.
                Assert.That(steered[HookName.ResidPost(0)].Vector(b, s).ToArray(), Is.EqualTo(clean[HookName.ResidPost(0)].Vector(b, s).ToArray()).Within(1e-6));
                // Layer 1's output: exactly factor · vector at the two positions, nothing elsewhere (its input is clean).
                var d1 = Diff(steered[HookName.ResidPost(1)].Vector(b, s), clean[HookName.ResidPost(1)].Vector(b, s));
                var expected = touched.Contains(s) ? vector.Select(v => factor * v).ToArray() : new float[64];
                Assert.That(d1, Is.EqualTo(expected).Within(1e-4), $"row {b}, position {s}");
                // Layer 2: real positions before the first touched one cannot see the change (causal attention).
                if (s >= seq - prompts[b].Tokens.Length && s < first)
                    Assert.That(Diff(steered[HookName.ResidPost(2)].Vector(b, s), clean[HookName.ResidPost(2)].Vector(b, s)), Is.All.EqualTo(0f).Within(1e-5));
            }
            // At layer 2 the touched positions carry at least the added vector's size of change.
            var d2 = Diff(steered[HookName.ResidPost(2)].Vector(b, seq + prompts[b].Positions[1]), clean[HookName.ResidPost(2)].Vector(b, seq + prompts[b].Positions[1]));
            Assert.That(d2.Max(Math.Abs), Is.GreaterThan(0.01f));
        }
    }

    static float[] Diff(Span<float> a, Span<float> b)
    {
        var d = new float[a.Length];
        for (int i = 0; i < d.Length; i++) d[i] = a[i] - b[i];
        return d;
    }

    [Test]
    public void MeanProbabilityDifference_PaddedBatches_EqualOnePromptAtATime([ValueSource(typeof(HookedModels), nameof(HookedModels.Kinds))] string kind, [Values(false, true)] bool steer)
    {
        var session = _models[kind];
        var prompts = Prompts();
        var vector = Enumerable.Range(0, 64).Select(i => (float)Math.Sin(i)).ToArray();
        const int trueId = 5, falseId = 7;
        double batched = TruthIntervention.MeanProbabilityDifference(session, prompts, trueId, falseId, steer ? vector : null, [0, 1], 2f, batchSize: 2);
        double sum = 0;
        foreach (var p in prompts)
        {
            var r = session.Run(new ForwardRequest([p.Tokens]) { Interventions = steer ? TruthIntervention.Build([p], vector, [0, 1], 2f) : null });
            var logits = r.Logits.Vector(0, p.Tokens.Length - 1).ToArray().Select(v => (double)v).ToArray();
            double max = logits.Max(), z = logits.Sum(v => Math.Exp(v - max));
            sum += (Math.Exp(logits[trueId] - max) - Math.Exp(logits[falseId] - max)) / z;
        }
        Assert.That(batched, Is.EqualTo(sum / prompts.Count).Within(1e-5));
    }

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void MeanProbabilityDifference_Steering_MovesTheOutput(string kind)
    {
        var session = _models[kind];
        var prompts = Prompts();
        var vector = Enumerable.Range(0, 64).Select(i => (float)Math.Cos(i)).ToArray();
        double clean = TruthIntervention.MeanProbabilityDifference(session, prompts, 5, 7, null, [0], 1f);
        double steered = TruthIntervention.MeanProbabilityDifference(session, prompts, 5, 7, vector, [0], 10f);
        Assert.That(steered, Is.Not.EqualTo(clean).Within(1e-6));
    }
}
