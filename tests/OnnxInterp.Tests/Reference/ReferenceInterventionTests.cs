using static OnnxInterp.Tests.Reference.ReferenceTestUtil;

namespace OnnxInterp.Tests.Reference;

[TestFixture]
public class ReferenceInterventionTests
{
    private static readonly TinyCheckpointSpec Spec = new("llama") { Seed = 61, RopeScaling = TinyCheckpointSpec.Llama3Scaling };
    private ReferenceTransformer _m = null!;
    private int[][] _ids = null!, _mask = null!, _pos = null!;
    private ReferenceOutput _clean = null!;

    [OneTimeSetUp]
    public void SetUp()
    {
        _m = Model(Spec);
        _ids = [Tokens(11, 6, 97), [0, .. Tokens(12, 5, 97)]];
        _mask = [Ones(6), [0, 1, 1, 1, 1, 1]];
        _pos = [Range(0, 6), [1, 0, 1, 2, 3, 4]];
        _clean = _m.Forward(_ids, _mask, _pos);
    }

    private ReferenceOutput Run(params ReferenceIntervention[] ivs) => _m.Forward(_ids, _mask, _pos, ivs);

    [Test]
    public void Replace_RecordsReplacement_AndLeavesEarlierPositionsAndOtherRowsUnchanged()
    {
        var rng = new Random(1);
        double[] r = RandomVector(rng, 64);
        var o = Run(new ReferenceIntervention("blocks.1.hook_resid_mid", Row: 1, Position: 3, Replace: r));
        Assert.That(MaxAbsDiff(o.Hooks["blocks.1.hook_resid_mid"][1][3], r), Is.EqualTo(0.0));
        foreach (var (name, value) in o.Hooks)
        {
            for (int t = 0; t < 6; t++)
                Assert.That(MaxAbsDiff(value[0][t], _clean.Hooks[name][0][t]), Is.EqualTo(0.0), $"{name} row 0 pos {t}");
            for (int t = 0; t < 3; t++)
                Assert.That(MaxAbsDiff(value[1][t], _clean.Hooks[name][1][t]), Is.EqualTo(0.0), $"{name} row 1 pos {t}");
        }
        // Upstream of the hook at the same position is unchanged; downstream changes.
        Assert.That(MaxAbsDiff(o.Hooks["blocks.1.hook_resid_pre"][1][3], _clean.Hooks["blocks.1.hook_resid_pre"][1][3]), Is.EqualTo(0.0));
        // Position 4 only feels it through attention of a later layer: not at blocks.2 resid_pre, but at resid_mid.
        Assert.That(MaxAbsDiff(o.Hooks["blocks.2.hook_resid_pre"][1][4], _clean.Hooks["blocks.2.hook_resid_pre"][1][4]), Is.EqualTo(0.0));
        Assert.That(MaxAbsDiff(o.Hooks["blocks.2.hook_resid_mid"][1][4], _clean.Hooks["blocks.2.hook_resid_mid"][1][4]), Is.GreaterThan(1e-6));
        Assert.That(MaxAbsDiff(o.Logits[1][3], _clean.Logits[1][3]), Is.GreaterThan(1e-3));
    }

    [Test]
    public void ProjectOut_LeavesHookOrthogonalToDirections()
    {
        var rng = new Random(2);
        double[] u1 = Normalized(RandomVector(rng, 96));
        double[] w = RandomVector(rng, 96);
        double c = Dot(w, u1);
        double[] u2 = Normalized(w.Select((x, i) => x - c * u1[i]).ToArray());
        var o = Run(new ReferenceIntervention("blocks.0.mlp.hook_post", 0, 4, ProjectOut: [u1, u2]));
        double[] h0 = _clean.Hooks["blocks.0.mlp.hook_post"][0][4];
        double[] h = o.Hooks["blocks.0.mlp.hook_post"][0][4];
        Assert.That(Dot(h, u1), Is.EqualTo(0.0).Within(1e-13));
        Assert.That(Dot(h, u2), Is.EqualTo(0.0).Within(1e-13));
        double[] expected = h0.Select((x, i) => x - Dot(h0, u1) * u1[i] - Dot(h0, u2) * u2[i]).ToArray();
        Assert.That(MaxAbsDiff(h, expected), Is.LessThan(1e-13));
        Assert.That(MaxAbsDiff(o.Logits[0][4], _clean.Logits[0][4]), Is.GreaterThan(1e-4));
    }

    [Test]
    public void AddThenProjectOut_AppliesInListOrder()
    {
        var rng = new Random(3);
        double[] a = RandomVector(rng, 64);
        double[] u = Normalized(RandomVector(rng, 64));
        const string Hook = "blocks.2.hook_resid_pre";
        var o = Run(
            new ReferenceIntervention(Hook, 1, 2, Add: a),
            new ReferenceIntervention(Hook, 1, 2, ProjectOut: [u]));
        double[] h0 = _clean.Hooks[Hook][1][2];
        double[] added = h0.Select((x, i) => x + a[i]).ToArray();
        double k = Dot(added, u);
        double[] expected = added.Select((x, i) => x - k * u[i]).ToArray();
        Assert.That(MaxAbsDiff(o.Hooks[Hook][1][2], expected), Is.LessThan(1e-13));

        // Reversed order: project first, then add (the result keeps a's component along u).
        var o2 = Run(
            new ReferenceIntervention(Hook, 1, 2, ProjectOut: [u]),
            new ReferenceIntervention(Hook, 1, 2, Add: a));
        Assert.That(Dot(o2.Hooks[Hook][1][2], u), Is.EqualTo(Dot(a, u)).Within(1e-12));
    }

    [Test]
    public void SingleIntervention_OrderIsProjectScaleReplaceAdd()
    {
        var rng = new Random(4);
        double[] u = Normalized(RandomVector(rng, 64));
        double[] s = RandomVector(rng, 64);
        double[] a = RandomVector(rng, 64);
        double[] r = RandomVector(rng, 64);
        const string Hook = "blocks.0.hook_resid_post";
        double[] h0 = _clean.Hooks[Hook][0][1];

        var o = Run(new ReferenceIntervention(Hook, 0, 1, Add: a, ProjectOut: [u], Scale: s));
        double k = Dot(h0, u);
        double[] expected = h0.Select((x, i) => (x - k * u[i]) * s[i] + a[i]).ToArray();
        Assert.That(MaxAbsDiff(o.Hooks[Hook][0][1], expected), Is.LessThan(1e-13));
        // resid_pre of the next layer is what the intervention left at resid_post.
        Assert.That(MaxAbsDiff(o.Hooks["blocks.1.hook_resid_pre"][0][1], expected), Is.EqualTo(0.0));

        var o2 = Run(new ReferenceIntervention(Hook, 0, 1, Replace: r, Add: a, Scale: s));
        Assert.That(MaxAbsDiff(o2.Hooks[Hook][0][1], r.Select((x, i) => x + a[i]).ToArray()), Is.LessThan(1e-15));
    }

    [Test]
    public void InvalidInterventions_Throw()
    {
        Assert.Throws<ArgumentException>(() => Run(new ReferenceIntervention("blocks.9.hook_resid_pre", 0, 0, Add: new double[64])));
        Assert.Throws<ArgumentOutOfRangeException>(() => Run(new ReferenceIntervention("blocks.0.hook_resid_pre", 2, 0, Add: new double[64])));
        Assert.Throws<ArgumentException>(() => Run(new ReferenceIntervention("blocks.0.mlp.hook_post", 0, 0, Add: new double[64])));
    }
}
