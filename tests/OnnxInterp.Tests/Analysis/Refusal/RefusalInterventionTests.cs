using System.Numerics.Tensors;
using OnnxInterp.Analysis.Refusal;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Reference;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Analysis.Refusal;

/// <summary>Directional ablation and activation addition, checked on activations captured from a tiny random checkpoint.</summary>
public class RefusalInterventionTests
{
    static TempDir _tmp = null!;
    static readonly Dictionary<string, IHookedModel> _models = [];
    const int Layers = 3, Hidden = 64;

    static readonly int[][] Prompts = [[5, 17, 42, 8, 91, 3], [60, 2, 33], [12, 12, 70, 45]];

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec { NumLayers = Layers, HiddenSize = Hidden, Seed = 77 });
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

    static float[] RandomVector(int seed, double scale = 1)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, Hidden).Select(_ => (float)((rng.NextDouble() * 2 - 1) * scale)).ToArray();
    }

    static ForwardResult Run(string kind, IReadOnlyList<Intervention>? interventions) =>
        _models[kind].Run(ForwardRequest.FromPrompts(Prompts) with { Hooks = ["blocks.*.hook_resid_*"], Interventions = interventions });

    static IEnumerable<(HookName Hook, int Row, int Pos)> RealPositions(ForwardResult r)
    {
        var mask = ForwardRequest.FromPrompts(Prompts).AttentionMask!;
        foreach (var hook in r.Cache.Keys)
            for (int b = 0; b < Prompts.Length; b++)
                for (int s = 0; s < mask[b].Length; s++)
                    if (mask[b][s] == 1) yield return (hook, b, s);
    }

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void Ablation_EveryResidualHookAtEveryPosition_HasNoComponentAlongR(string kind)
    {
        var direction = new RefusalDirection("m", 1, -1, RandomVector(1, 3));
        var r = direction.Unit;
        var plain = Run(kind, null);
        var ablated = Run(kind, direction.Ablation(Layers));
        Assert.That(ablated.Cache.Keys.Count(k => k.IsResidual), Is.EqualTo(3 * Layers));

        double before = 0, after = 0;
        foreach (var (hook, b, s) in RealPositions(ablated))
        {
            var h = ablated.Cache[hook].Vector(b, s);
            double norm = Math.Sqrt(TensorPrimitives.Dot<float>(h, h));
            after = Math.Max(after, Math.Abs(TensorPrimitives.Dot<float>(h, r)) / norm);
            var p = plain.Cache[hook].Vector(b, s);
            before = Math.Max(before, Math.Abs(TensorPrimitives.Dot<float>(p, r)) / Math.Sqrt(TensorPrimitives.Dot<float>(p, p)));
        }
        Assert.That(before, Is.GreaterThan(0.05), "without ablation the activations do have an r component");
        Assert.That(after, Is.LessThan(1e-5), "max |h·r| / |h| over every residual hook and real position");
    }

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void Ablation_AtTheFirstHook_EqualsTheHandProjection(string kind)
    {
        var direction = new RefusalDirection("m", 0, -1, RandomVector(2));
        var r = direction.Unit;
        var plain = Run(kind, null).Cache["blocks.0.hook_resid_pre"];
        var ablated = Run(kind, direction.Ablation(Layers)).Cache["blocks.0.hook_resid_pre"];
        for (int b = 0; b < Prompts.Length; b++)
            for (int s = 0; s < plain.Shape[1]; s++)
            {
                var h = plain.Vector(b, s).ToArray();
                double dot = 0;
                for (int i = 0; i < Hidden; i++) dot += (double)h[i] * r[i];
                var expected = h.Select((x, i) => (float)(x - dot * r[i])).ToArray();
                Assert.That(Compare.MaxAbsDiff(ablated.Vector(b, s), expected), Is.LessThan(1e-5), $"row {b} position {s}");
            }
    }

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void Ablation_DuringGeneration_EqualsFullForwardsWithTheAblation(string kind)
    {
        var model = _models[kind];
        var direction = new RefusalDirection("m", 1, -1, RandomVector(3, 4));
        var ablation = direction.Ablation(Layers);
        var generated = model.Generate(Prompts, new GenerationOptions { MaxNewTokens = 5, StopTokens = [], Interventions = ablation });
        for (int b = 0; b < Prompts.Length; b++)
        {
            var seq = Prompts[b].ToList();
            for (int i = 0; i < 5; i++)
            {
                var logits = model.Run(new ForwardRequest([seq.ToArray()]) { Interventions = ablation }).Logits;
                seq.Add(TensorPrimitives.IndexOfMax(logits.Vector(0, seq.Count - 1)));
            }
            Assert.That(generated.Tokens[b], Is.EqualTo(seq.Skip(Prompts[b].Length).ToArray()), $"row {b}");
        }
    }

    [TestCase(HookedModels.Onnx, AdditionScale.MeanDifference, 1f)]
    [TestCase(HookedModels.Onnx, AdditionScale.UnitDirection, -6f)]
    [TestCase(HookedModels.Reference, AdditionScale.MeanDifference, 1f)]
    [TestCase(HookedModels.Reference, AdditionScale.UnitDirection, -6f)]
    public void Addition_AtLayerL_LeavesEveryHookBeforeLUnchanged_AndShiftsResidPreOfL(string kind, AdditionScale scale, float coefficient)
    {
        const int layer = 2;
        var direction = new RefusalDirection("m", layer, -1, RandomVector(4, 2));
        var added = scale == AdditionScale.MeanDifference ? direction.MeanDifference : direction.Unit;
        var plain = Run(kind, null);
        var steered = Run(kind, [direction.Addition(coefficient, scale)]);
        foreach (var hook in plain.Cache.Keys)
        {
            int l = hook.Layer;
            if (l < layer)
                Assert.That(steered.Cache[hook].Data, Is.EqualTo(plain.Cache[hook].Data), hook.ToString());
        }
        var pre = $"blocks.{layer}.hook_resid_pre";
        foreach (var (_, b, s) in RealPositions(plain).Where(x => x.Hook == pre))
        {
            var expected = plain.Cache[pre].Vector(b, s).ToArray().Select((x, i) => x + coefficient * added[i]).ToArray();
            Assert.That(Compare.MaxAbsDiff(steered.Cache[pre].Vector(b, s), expected), Is.LessThan(1e-4), $"row {b} position {s}");
        }
        Assert.That(Compare.MaxAbsDiff(steered.Cache[$"blocks.{layer}.hook_resid_post"].Data, plain.Cache[$"blocks.{layer}.hook_resid_post"].Data), Is.GreaterThan(0.1));
    }
}
