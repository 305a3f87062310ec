using OnnxInterp.Internals;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis;

/// <summary>
/// Double-precision reads of one position's logits that several analyses score with: the softmax, the refusal log-odds
/// of Arditi et al., and the first tokens of answer texts.
/// </summary>
public static class LogitScores
{
    /// <summary>softmax(logits) in double, the maximum subtracted first.</summary>
    public static double[] Softmax(ReadOnlySpan<float> logits)
    {
        double max = double.NegativeInfinity;
        foreach (var x in logits) max = Math.Max(max, x);
        var e = new double[logits.Length];
        double sum = 0;
        for (int i = 0; i < e.Length; i++) sum += e[i] = Math.Exp(logits[i] - max);
        for (int i = 0; i < e.Length; i++) e[i] /= sum;
        return e;
    }

    /// <summary>log(p + ε) − log(1 − p + ε) with p the softmax mass (in double) of <paramref name="tokens"/>, ε = 1e-8.</summary>
    public static double LogOdds(ReadOnlySpan<float> logits, IReadOnlyList<int> tokens)
    {
        var probs = Softmax(logits);
        double p = 0;
        foreach (var t in tokens) p += probs[t];
        const double eps = 1e-8;
        return Math.Log(p + eps) - Math.Log(1 - p + eps);
    }

    /// <summary>The distinct first tokens of <paramref name="texts"/>, in order; a text that encodes to nothing is an error naming <paramref name="field"/>.</summary>
    public static IReadOnlyList<int> FirstTokens(HfTokenizer tokenizer, IEnumerable<string> texts, string message, string field)
    {
        var ids = new List<int>();
        foreach (var t in texts)
        {
            var enc = tokenizer.Encode(t, addSpecialTokens: false);
            if (enc.Length == 0) Throw.Argument(message, field, t);
            if (!ids.Contains(enc[0])) ids.Add(enc[0]);
        }
        return ids;
    }
}
