using OnnxInterp.Analysis.Confidence;

namespace OnnxInterp.Tests.Analysis.Confidence;

public class CalibrationTests
{
    [Test]
    public void Ece_HandExample_WeightedGapPerBin()
    {
        // p(TRUE), label → answer, confidence, correct:
        // 0.95 T → T 0.95 ✓ | 0.92 F → T 0.92 ✗ | 0.15 F → F 0.85 ✓ | 0.55 T → T 0.55 ✓ | 0.4 T → F 0.6 ✗ | 0.58 F → T 0.58 ✗
        var r = Calibration.Compute([(0.95, true), (0.92, false), (0.15, false), (0.55, true), (0.4, true), (0.58, false)]);
        // Bins: (0.9,1]: {0.95 ✓, 0.92 ✗} acc 0.5 conf 0.935; (0.8,0.9]: {0.85 ✓} acc 1 conf 0.85;
        // (0.5,0.6]: {0.55 ✓, 0.6 ✗, 0.58 ✗} acc 1/3 conf 0.5766…
        double expected = 2.0 / 6 * Math.Abs(0.5 - 0.935) + 1.0 / 6 * Math.Abs(1 - 0.85) + 3.0 / 6 * Math.Abs(1.0 / 3 - (0.55 + 0.6 + 0.58) / 3);
        Assert.That(r.Ece, Is.EqualTo(expected).Within(1e-12));
        Assert.That(r.Accuracy, Is.EqualTo(0.5).Within(1e-12));
        Assert.That(r.MeanConfidence, Is.EqualTo((0.95 + 0.92 + 0.85 + 0.55 + 0.6 + 0.58) / 6).Within(1e-12));
        Assert.That(r.Bins.Select(b => b.Count), Is.EqualTo(new[] { 0, 0, 0, 0, 0, 3, 0, 0, 1, 2 }));
    }

    [Test]
    public void Ece_BinEdges_BelongToTheLowerBin()
    {
        var r = Calibration.Compute([(0.7, true), (0.5, true), (1.0, true)]);
        Assert.That(r.Bins.Select(b => b.Count), Is.EqualTo(new[] { 0, 0, 0, 0, 1, 0, 1, 0, 0, 1 }));
    }

    [Test]
    public void TrueProbability_IsTheTwoWaySoftmax()
    {
        double e1 = Math.Exp(1.5), e2 = Math.Exp(-0.5);
        Assert.That(Calibration.TrueProbability(1.5f, -0.5f), Is.EqualTo(e1 / (e1 + e2)).Within(1e-12));
    }

    [Test]
    public void Compute_BadInput_IsTypedError()
    {
        Assert.Throws<InvalidArgumentException>(() => Calibration.Compute([]));
        Assert.Throws<InvalidArgumentException>(() => Calibration.Compute([(1.2, true)]));
        Assert.Throws<InvalidArgumentException>(() => Calibration.Compute([(0.2, true)], bins: 0));
    }
}
