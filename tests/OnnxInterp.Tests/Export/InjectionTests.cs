using OnnxInterp.Runtime;
using OnnxInterp.Tests.Reference;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Export;

/// <summary>Injection inputs against the reference forward pass with the same edit, and their locality.</summary>
public class InjectionTests
{
    const double Tolerance = 1e-4;
    static TinyCheckpoint _ckpt = null!;
    static TempDir _tmp = null!;
    static ModelSession _session = null!;
    static ReferenceTransformer _reference = null!;

    [OneTimeSetUp]
    public void SetUp()
    {
        _ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("qwen2") { NumLayers = 4, Seed = 21 });
        _tmp = new TempDir();
        _session = ModelSession.Open(TestCheckpoints.Export(_ckpt, _tmp));
        _reference = new ReferenceTransformer(_ckpt.Config, _ckpt.Weights);
    }

    [OneTimeTearDown]
    public void TearDown()
    {
        _session.Dispose();
        _tmp.Dispose();
    }

    static readonly int[] PromptA = [5, 17, 33, 2, 71, 40, 8];
    static readonly int[] PromptB = [9, 17, 60, 2, 12, 40, 8];

    static ReferenceOutput Reference(int[] prompt, params ReferenceIntervention[] edits) =>
        _reference.Forward([prompt], [Enumerable.Repeat(1, prompt.Length).ToArray()],
            [Enumerable.Range(0, prompt.Length).ToArray()], edits);

    static double[] D(ReadOnlySpan<float> v) => v.ToArray().Select(x => (double)x).ToArray();

    [TestCase(0, 2)]
    [TestCase(2, 4)]
    [TestCase(3, 6)]
    public void Replace_ResidPostWithCapturedVector_LeavesEarlierPositionsAndMatchesReference(int layer, int position)
    {
        string hook = $"blocks.{layer}.hook_resid_post";
        var clean = _session.Run(new ForwardRequest([PromptB]) { Hooks = ["*"] });
        var donor = _session.Run(new ForwardRequest([PromptA]) { Hooks = [hook] }).Cache[hook].Vector(0, position).ToArray();

        var patched = _session.Run(new ForwardRequest([PromptB]) { Hooks = ["*"], Interventions = [Intervention.Replace(hook, donor, positions: [position])] });

        Assert.That(Compare.MaxAbsDiff(patched.Cache[hook].Vector(0, position), donor), Is.LessThanOrEqualTo(1e-6), "the hook shows the patched value");
        for (int s = 0; s < position; s++)
        {
            Assert.That(Compare.MaxAbsDiff(patched.Logits.Vector(0, s), clean.Logits.Vector(0, s)), Is.LessThanOrEqualTo(1e-6), $"logits at {s}");
            foreach (var (name, t) in clean.Cache)
                Assert.That(Compare.MaxAbsDiff(patched.Cache[name].Vector(0, s), t.Vector(0, s)), Is.LessThanOrEqualTo(1e-6), $"{name} at {s}");
        }
        Assert.That(Compare.MaxAbsDiff(patched.Logits.Vector(0, PromptB.Length - 1), clean.Logits.Vector(0, PromptB.Length - 1)), Is.GreaterThan(1e-4),
            "the patch must change the last position");

        var expected = Reference(PromptB, new ReferenceIntervention(hook, 0, position, Replace: D(donor)));
        var ones = new[] { Enumerable.Repeat(1, PromptB.Length).ToArray() };
        Assert.That(Compare.MaxRelativeError(patched.Logits, expected.Logits, ones), Is.LessThanOrEqualTo(Tolerance));
        foreach (var (name, v) in expected.Hooks)
            Assert.That(Compare.MaxRelativeError(patched.Cache[name], v, ones), Is.LessThanOrEqualTo(Tolerance), name);
    }

    [Test]
    public void AddAndProjectOutAndScale_MatchReference()
    {
        var rng = new Random(5);
        int d = _ckpt.Config.HiddenSize, inter = _ckpt.Config.IntermediateSize;
        float[] add = Enumerable.Range(0, d).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        // Two orthonormal directions, built here independently of the library's Gram-Schmidt.
        var u1 = Unit(Enumerable.Range(0, d).Select(_ => rng.NextDouble() - 0.5).ToArray());
        var raw = Enumerable.Range(0, d).Select(_ => rng.NextDouble() - 0.5).ToArray();
        double dot = raw.Zip(u1).Sum(p => p.First * p.Second);
        var u2 = Unit(raw.Select((x, i) => x - dot * u1[i]).ToArray());
        float[] neuronScale = Enumerable.Range(0, inter).Select(i => i % 5 == 0 ? 0f : 1f).ToArray();

        var interventions = new List<Intervention>
        {
            Intervention.Add("blocks.1.hook_resid_mid", add, factor: 2f, positions: [-1, 3]),
            Intervention.ProjectOut("blocks.2.hook_resid_pre", [u1.Select(x => (float)x).ToArray(), u2.Select(x => (float)x).ToArray()]),
            new("blocks.3.mlp.hook_post", InterventionOp.Scale, neuronScale, Positions: [1, 2]),
        };
        var actual = _session.Run(new ForwardRequest([PromptA]) { Hooks = ["*"], Interventions = interventions });

        var edits = new List<ReferenceIntervention>();
        int last = PromptA.Length - 1;
        foreach (int p in new[] { last, 3 }) edits.Add(new("blocks.1.hook_resid_mid", 0, p, Add: add.Select(x => 2.0 * x).ToArray()));
        for (int p = 0; p < PromptA.Length; p++) edits.Add(new("blocks.2.hook_resid_pre", 0, p, ProjectOut: [u1, u2]));
        foreach (int p in new[] { 1, 2 }) edits.Add(new("blocks.3.mlp.hook_post", 0, p, Scale: neuronScale.Select(x => (double)x).ToArray()));
        var expected = Reference(PromptA, edits.ToArray());

        var ones = new[] { Enumerable.Repeat(1, PromptA.Length).ToArray() };
        Assert.That(Compare.MaxRelativeError(actual.Logits, expected.Logits, ones), Is.LessThanOrEqualTo(Tolerance));
        foreach (var (name, v) in expected.Hooks)
            Assert.That(Compare.MaxRelativeError(actual.Cache[name], v, ones), Is.LessThanOrEqualTo(Tolerance), name);
        for (int p = 0; p < PromptA.Length; p++)
        {
            var h = D(actual.Cache["blocks.2.hook_resid_pre"].Vector(0, p));
            Assert.That(Math.Abs(h.Zip(u1).Sum(x => x.First * x.Second)), Is.LessThan(1e-4), "no component along u1");
            Assert.That(Math.Abs(h.Zip(u2).Sum(x => x.First * x.Second)), Is.LessThan(1e-4), "no component along u2");
        }
    }

    [Test]
    public void Sweep_DifferentPatchPerBatchRow_EqualsSeparateRuns()
    {
        var donorRun = _session.Run(new ForwardRequest([PromptA]) { Hooks = ["blocks.*.hook_resid_post"] });
        var patches = new (int Layer, int Pos)[] { (0, 1), (1, 3), (2, 5), (3, 6), (1, 0) };
        var batch = new ForwardRequest(patches.Select(_ => PromptB).ToArray())
        {
            Interventions = patches.Select((p, row) => Intervention.Replace($"blocks.{p.Layer}.hook_resid_post",
                donorRun.Cache[$"blocks.{p.Layer}.hook_resid_post"].Vector(0, p.Pos).ToArray(), rows: [row], positions: [p.Pos])).ToList(),
        };
        var batched = _session.Run(batch);
        for (int row = 0; row < patches.Length; row++)
        {
            var (layer, pos) = patches[row];
            string hook = $"blocks.{layer}.hook_resid_post";
            var single = _session.Run(new ForwardRequest([PromptB])
            {
                Interventions = [Intervention.Replace(hook, donorRun.Cache[hook].Vector(0, pos).ToArray(), positions: [pos])],
            });
            Assert.That(Compare.MaxAbsDiff(batched.Logits.Data.AsSpan(row * single.Logits.Length, single.Logits.Length), single.Logits.Data),
                Is.LessThanOrEqualTo(1e-5), $"row {row}");
        }
    }

    [Test]
    public void KvCache_PrefixThenSuffix_EqualsFullRun()
    {
        var full = _session.Run(new ForwardRequest([PromptA]) { Hooks = ["blocks.3.hook_resid_post"] });
        var prefix = _session.Run(new ForwardRequest([PromptA[..4]]) { ReturnPresent = true });
        var suffix = _session.Run(new ForwardRequest([PromptA[4..]])
        {
            Past = prefix.Present,
            AttentionMask = [Enumerable.Repeat(1, PromptA.Length).ToArray()],
            PositionIds = [[4, 5, 6]],
            Hooks = ["blocks.3.hook_resid_post"],
        });
        for (int s = 0; s < 3; s++)
        {
            Assert.That(Compare.MaxAbsDiff(suffix.Logits.Vector(0, s), full.Logits.Vector(0, s + 4)), Is.LessThanOrEqualTo(1e-5));
            Assert.That(Compare.MaxAbsDiff(suffix.Cache["blocks.3.hook_resid_post"].Vector(0, s), full.Cache["blocks.3.hook_resid_post"].Vector(0, s + 4)), Is.LessThanOrEqualTo(1e-5));
        }
    }

    [Test]
    public void BadInterventions_GiveTypedErrors()
    {
        var d = _ckpt.Config.HiddenSize;
        Assert.Throws<InvalidArgumentException>(() => _session.Run(new ForwardRequest([PromptA]) { Interventions = [Intervention.Add("blocks.9.hook_resid_pre", new float[d])] }));
        Assert.Throws<InvalidArgumentException>(() => _session.Run(new ForwardRequest([PromptA]) { Interventions = [Intervention.Add("blocks.0.hook_resid_pre", new float[d + 1])] }));
        Assert.Throws<InvalidArgumentException>(() => _session.Run(new ForwardRequest([PromptA]) { Interventions = [Intervention.Add("blocks.0.hook_resid_pre", new float[d], positions: [7])] }));
        Assert.Throws<InvalidArgumentException>(() => _session.Run(new ForwardRequest([PromptA]) { Interventions = [Intervention.Add("blocks.0.hook_resid_pre", new float[d], rows: [1])] }));
        Assert.Throws<InvalidArgumentException>(() => _session.Run(new ForwardRequest([PromptA]) { Interventions = [Intervention.ProjectOut("blocks.0.hook_resid_pre", [new float[d]])] }));
        Assert.Throws<InvalidArgumentException>(() => _session.Run(new ForwardRequest([[0, _ckpt.Config.VocabSize]])));
        var mlp = Assert.Throws<InvalidArgumentException>(() => _session.Run(new ForwardRequest([PromptA])
        {
            Interventions = [Intervention.ProjectOut("blocks.0.mlp.hook_post", [new float[_ckpt.Config.IntermediateSize]])],
        }))!;
        Assert.That(mlp.Message, Does.Contain("takes no projections"));
    }

    static double[] Unit(double[] v)
    {
        double n = Math.Sqrt(v.Sum(x => x * x));
        return v.Select(x => x / n).ToArray();
    }
}
