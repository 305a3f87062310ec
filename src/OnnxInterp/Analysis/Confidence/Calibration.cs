using OnnxInterp.Internals;

namespace OnnxInterp.Analysis.Confidence;

/// <summary>One confidence bin (lo, hi]: how many answers fell in it, their accuracy and mean confidence.</summary>
public sealed record CalibrationBin(double Lo, double Hi, int Count, double Accuracy, double Confidence);

/// <summary>Expected calibration error of binary TRUE/FALSE answers, with the bins it was computed from.</summary>
public sealed record CalibrationResult(int Count, double Accuracy, double MeanConfidence, double Ece, IReadOnlyList<CalibrationBin> Bins);

/// <summary>
/// Calibration of TRUE/FALSE judgements. The model's P(TRUE) is renormalised over the two answers,
/// p = P(TRUE) / (P(TRUE) + P(FALSE)); its answer is TRUE when p ≥ 0.5, with confidence max(p, 1 − p).
/// ECE = Σ_b (n_b / N) |accuracy_b − mean confidence_b| over equal-width bins (lo, hi] of [0, 1] (the first bin
/// also takes 0), as Guo et al. 2017 define it.
/// </summary>
public static class Calibration
{
    public const int DefaultBins = 10;

    /// <summary>p = P(TRUE) / (P(TRUE) + P(FALSE)) from the two answers' logits (a softmax over just the two).</summary>
    public static double TrueProbability(float trueLogit, float falseLogit) => 1 / (1 + Math.Exp((double)falseLogit - trueLogit));

    public static CalibrationResult Compute(IReadOnlyList<(double PTrue, bool Label)> answers, int bins = DefaultBins)
    {
        if (answers.Count == 0) Throw.Argument("no answers to calibrate", "answers", 0);
        if (bins < 1) Throw.Argument("at least one bin is needed", "bins", bins);
        var count = new int[bins];
        var correct = new double[bins];
        var conf = new double[bins];
        double totalCorrect = 0, totalConf = 0;
        foreach (var (p, label) in answers)
        {
            if (!(p >= 0 && p <= 1)) Throw.Argument("P(TRUE) must lie in [0, 1]", "pTrue", p);
            bool saysTrue = p >= 0.5;
            double c = saysTrue ? p : 1 - p;
            double ok = saysTrue == label ? 1 : 0;
            int b = 0;
            while (b < bins - 1 && c > (double)(b + 1) / bins) b++;  // (lo, hi] with hi = (b + 1) / bins exactly as divided
            count[b]++;
            correct[b] += ok;
            conf[b] += c;
            totalCorrect += ok;
            totalConf += c;
        }
        double ece = 0;
        var list = new List<CalibrationBin>(bins);
        for (int b = 0; b < bins; b++)
        {
            double acc = count[b] == 0 ? 0 : correct[b] / count[b];
            double mc = count[b] == 0 ? 0 : conf[b] / count[b];
            ece += (double)count[b] / answers.Count * Math.Abs(acc - mc);
            list.Add(new CalibrationBin((double)b / bins, (double)(b + 1) / bins, count[b], acc, mc));
        }
        return new CalibrationResult(answers.Count, totalCorrect / answers.Count, totalConf / answers.Count, ece, list);
    }
}
