using OnnxInterp.Internals;
using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis.Refusal;

/// <summary>
/// Arditi et al.'s cheap refusal metrics on the logits of the first generated token (the prompt's last position):
/// the log-odds of the refusal tokens and the KL divergence from the unmodified model.
/// </summary>
public static class RefusalLogits
{
    /// <summary>
    /// The default refusal tokens: the first token of each of Arditi et al.'s refusal phrases, as an answer's first word
    /// and after a space (templates that end in "Assistant:" answer with a leading space), kept only when that token is
    /// a whole word of the phrase ("I" of "I'm sorry", not "ĠA" of " As an AI"), as their hand-picked lists are: Llama-3's
    /// 'I', Qwen's 'I' and 'As'. When no phrase starts with a whole-word token, every first token is used.
    /// </summary>
    public static IReadOnlyList<int> DefaultTokens(HfTokenizer tokenizer, IReadOnlyList<string>? phrases = null)
    {
        var texts = (phrases ?? RefusalScore.SubstringPhrases).SelectMany(p => new[] { p, " " + p }).ToList();
        var whole = texts.Where(t =>
        {
            var enc = tokenizer.Encode(t, addSpecialTokens: false);
            if (enc.Length == 0) return false;
            var first = tokenizer.Decode([enc[0]]);
            return first.Length > 0 && t.StartsWith(first, StringComparison.Ordinal) && (first.Length == t.Length || !char.IsLetter(t[first.Length]));
        }).ToList();
        return Tokens(tokenizer, whole.Count > 0 ? whole : texts);
    }

    /// <summary>The distinct first tokens of the given texts.</summary>
    public static IReadOnlyList<int> Tokens(HfTokenizer tokenizer, IEnumerable<string> texts) =>
        LogitScores.FirstTokens(tokenizer, texts, "the refusal text encodes to no token", "refusal_tokens");

    /// <summary>log(p + ε) − log(1 − p + ε) with p the softmax mass (in double) of <paramref name="tokens"/>, ε = 1e-8.</summary>
    public static double LogOdds(ReadOnlySpan<float> logits, IReadOnlyList<int> tokens) => LogitScores.LogOdds(logits, tokens);

    /// <summary>KL(P ‖ Q) = Σ p (log(p + ε) − log(q + ε)), softmax in double, ε = 1e-6 (Arditi et al.'s kl_div_fn).</summary>
    public static double Kl(ReadOnlySpan<float> logitsP, ReadOnlySpan<float> logitsQ)
    {
        if (logitsP.Length != logitsQ.Length) Throw.Argument("the logits have different lengths", "logits", $"{logitsP.Length} vs {logitsQ.Length}");
        var p = LogitScores.Softmax(logitsP);
        var q = LogitScores.Softmax(logitsQ);
        const double eps = 1e-6;
        double kl = 0;
        for (int i = 0; i < p.Length; i++) kl += p[i] * (Math.Log(p[i] + eps) - Math.Log(q[i] + eps));
        return kl;
    }

    /// <summary>The logits at each prompt's last position, [prompt] → vocabulary, under the interventions (at every position).</summary>
    public static float[][] LastLogits(IHookedModel session, IReadOnlyList<int[]> prompts, IReadOnlyList<Intervention>? interventions,
        int padTokenId, int batchSize = 32, CancellationToken cancellation = default)
    {
        if (batchSize < 1) Throw.Argument("must be at least 1", "batch_size", batchSize);
        var rows = new List<float[]>(prompts.Count);
        Batches.Run(session, prompts, batchSize,
            batch => ForwardRequest.FromPrompts(batch, padTokenId) with { LogitPositions = [-1], Interventions = interventions },
            (_, batch, r) =>
            {
                for (int b = 0; b < batch.Count; b++) rows.Add(r.Logits.Vector(b, 0).ToArray());
            }, cancellation: cancellation);
        return rows.ToArray();
    }

    /// <summary>Mean refusal log-odds over the prompts under the interventions.</summary>
    public static double MeanLogOdds(IHookedModel session, IReadOnlyList<int[]> prompts, IReadOnlyList<int> tokens, IReadOnlyList<Intervention>? interventions,
        int padTokenId, int batchSize = 32, CancellationToken cancellation = default) =>
        LastLogits(session, prompts, interventions, padTokenId, batchSize, cancellation).Average(l => LogOdds(l, tokens));
}
