using OnnxInterp.Trainer;

namespace OnnxInterp.Tests.Trainer;

/// <summary>The float forward pass against the double reference, and the analytic gradient against finite differences of it.</summary>
public class TrainingPassTests
{
    const int B = 2, T = 6;

    [Test]
    public void Forward_TinyGqaModel_MatchesReferenceWithin1e4Relative()
    {
        var c = TrainerTestModels.Tiny;
        var model = TrainerTestModels.Random(c, seed: 5);
        var ids = TrainerTestModels.Tokens(new Random(6), B * T, c.Vocab);
        var pass = new TrainingPass(model, B, T);
        pass.Forward(ids);
        var expected = TrainerTestModels.ReferenceLogits(c, model.ToDictionary(), ids, B, T);
        double worst = MaxRelativeError(pass.Logits, expected, c.Vocab);
        TestContext.Out.WriteLine($"max relative logit error {worst:E2}");
        Assert.That(worst, Is.LessThanOrEqualTo(1e-4));
    }

    [Test]
    public void Loss_MaskedBatch_EqualsReferenceCrossEntropy()
    {
        var c = TrainerTestModels.Tiny;
        var model = TrainerTestModels.Random(c, seed: 7);
        var (ids, targets, mask) = Batch(c, 8);
        var pass = new TrainingPass(model, B, T);
        pass.Forward(ids);
        double loss = pass.Loss(targets, mask);
        double expected = TrainerTestModels.ReferenceLoss(c, model.ToDictionary(), ids, targets, mask, B, T);
        Assert.That(loss, Is.EqualTo(expected).Within(1e-5).Percent);
    }

    /// <summary>
    /// Central differences of the double-precision reference loss (h = 1e-3 in the float weight; the realised step is
    /// the exact difference of the two float weights), so the numerical side has truncation error ~h²·f‴/6 ≈ 1e-7 and
    /// no float noise. The analytic side is float: its error is a few float roundings of the gradient's scale.
    /// Tolerance |analytic − numeric| ≤ 1e-4·|numeric| + 1e-4·max|gradient of that tensor|: ~10³ float epsilons of
    /// the tensor's gradient scale, room for ~100-term float sums through two layers (observed: ~1e-6 of the scale),
    /// and still far below any wrong term (a missing or mis-signed contribution is O(1) of the scale).
    /// Every tensor is sampled at its largest-gradient entry and at 6 random entries.
    /// </summary>
    [Test]
    public void Backward_EveryParameterTensor_MatchesFiniteDifferencesOfReference()
    {
        var c = TrainerTestModels.Tiny;
        var model = TrainerTestModels.Random(c, seed: 11);
        var (ids, targets, mask) = Batch(c, 12);
        var pass = new TrainingPass(model, B, T);
        pass.ForwardBackward(ids, targets, mask);
        var weights = model.ToDictionary();
        var rng = new Random(13);
        int checkedEntries = 0;
        double worstRatio = 0;
        for (int pi = 0; pi < model.Parameters.Count; pi++)
        {
            var p = model.Parameters[pi];
            var g = pass.Gradients.Parameters[pi].Data;
            Assert.That(pass.Gradients.Parameters[pi].Name, Is.EqualTo(p.Name));
            double scale = g.Max(x => Math.Abs((double)x));
            Assert.That(scale, Is.GreaterThan(1e-4), $"{p.Name}: gradient is all but zero, the check would prove nothing");
            int argmax = Array.IndexOf(g, g.MaxBy(x => Math.Abs(x)));
            foreach (int i in new[] { argmax }.Concat(Enumerable.Range(0, 6).Select(_ => rng.Next(g.Length))))
            {
                float w0 = p.Data[i];
                float wp = w0 + 1e-3f, wm = w0 - 1e-3f;
                p.Data[i] = wp;
                double lp = TrainerTestModels.ReferenceLoss(c, weights, ids, targets, mask, B, T);
                p.Data[i] = wm;
                double lm = TrainerTestModels.ReferenceLoss(c, weights, ids, targets, mask, B, T);
                p.Data[i] = w0;
                double numeric = (lp - lm) / ((double)wp - wm);
                double tol = 1e-4 * Math.Abs(numeric) + 1e-4 * scale;
                double err = Math.Abs(g[i] - numeric);
                worstRatio = Math.Max(worstRatio, err / tol);
                Assert.That(err, Is.LessThanOrEqualTo(tol), $"{p.Name}[{i}]: analytic {g[i]:E4}, numeric {numeric:E4}");
                checkedEntries++;
            }
        }
        TestContext.Out.WriteLine($"{checkedEntries} entries over {model.Parameters.Count} tensors; worst error / tolerance = {worstRatio:F3}");
    }

    [Test]
    public void Backward_BeforeLoss_Throws() =>
        Assert.Throws<InvalidOperationException>(() => new TrainingPass(TrainerTestModels.Random(TrainerTestModels.Tiny, 1), B, T).Backward());

    [Test]
    public void Forward_TokenOutOfVocabulary_ThrowsNamingIt()
    {
        var pass = new TrainingPass(TrainerTestModels.Random(TrainerTestModels.Tiny, 1), 1, 2);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => pass.Forward([3, 11]));
        Assert.That(ex!.ActualValue, Is.EqualTo(11));
    }

    /// <summary>Random tokens; row 1 ends in two padded (mask 0) positions and one token is weighted 0.5.</summary>
    static (int[] Ids, int[] Targets, float[] Mask) Batch(TrainerConfig c, int seed)
    {
        var rng = new Random(seed);
        var ids = TrainerTestModels.Tokens(rng, B * T, c.Vocab);
        var targets = TrainerTestModels.Tokens(rng, B * T, c.Vocab);
        var mask = Enumerable.Repeat(1f, B * T).ToArray();
        mask[2 * T - 1] = 0; mask[2 * T - 2] = 0; mask[3] = 0.5f;
        return (ids, targets, mask);
    }

    internal static double MaxRelativeError(ReadOnlySpan<float> actual, double[][][] expected, int vocab)
    {
        double worst = 0;
        int row = 0;
        foreach (var seq in expected)
            foreach (var e in seq)
            {
                double scale = Math.Max(1.0, e.Max(Math.Abs));
                for (int i = 0; i < vocab; i++) worst = Math.Max(worst, Math.Abs(actual[row * vocab + i] - e[i]) / scale);
                row++;
            }
        return worst;
    }
}
