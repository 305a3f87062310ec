using OnnxInterp.Data;
using OnnxInterp.Internals;
using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis.Truth;

/// <summary>
/// A few-shot truth-judging prompt: the examples, the statement, " This statement is:". <see cref="Positions"/> are the
/// two positions an intervention targets, counted from the end: with <see cref="TruthReading.Statement"/> the
/// statement's last two tokens (the one before the final period and the period, as the paper), with
/// <see cref="TruthReading.Judgement"/> the prompt's last two (" is", ":").
/// </summary>
public sealed record TruthPrompt(string Statement, bool True, int[] Tokens, int[] Positions);

/// <summary>
/// Adding or subtracting a truth direction in the residual stream of the few-shot prompt and measuring
/// P(" TRUE") − P(" FALSE") at the last position (the paper's interventions.py).
/// </summary>
public static class TruthIntervention
{
    /// <summary>
    /// The paper's queries (interventions.prepare_data): per statement, the examples shuffled ("… This statement is: TRUE"
    /// lines), then the statement and <see cref="JudgingAnswers.Question"/>. As the paper, statements that occur in the
    /// examples are left out; so are statements whose tokens change when the question follows them (none for BPE
    /// tokenizers that split at spaces). Returns the prompts and how many statements were left out.
    /// </summary>
    public static (IReadOnlyList<TruthPrompt> Prompts, int Skipped) BuildPrompts(IEnumerable<Statement> statements,
        IReadOnlyList<(string Statement, bool True)> examples, HfTokenizer tokenizer, int seed = 1, TruthReading reading = TruthReading.Statement)
    {
        if (examples.Count == 0) Throw.Argument("few-shot examples are needed", "examples", 0);
        var rng = new Random(seed);
        var lines = JudgingAnswers.ExampleLines(examples);
        string all = string.Concat(lines);
        var prompts = new List<TruthPrompt>();
        int skipped = 0;
        foreach (var s in statements)
        {
            rng.Shuffle(lines);
            if (all.Contains(s.Text, StringComparison.Ordinal)) { skipped++; continue; }
            string head = string.Concat(lines) + s.Text;
            var headTokens = tokenizer.Encode(head);
            var tokens = tokenizer.Encode(head + JudgingAnswers.Question);
            int suffix = tokens.Length - headTokens.Length;
            if (suffix <= 0 || headTokens.Length < 2 || !tokens.AsSpan(0, headTokens.Length).SequenceEqual(headTokens)) { skipped++; continue; }
            prompts.Add(new TruthPrompt(s.Text, s.Label == 1, tokens, reading == TruthReading.Judgement ? [-2, -1] : [-suffix - 2, -suffix - 1]));
        }
        return (prompts, skipped);
    }

    /// <summary>
    /// The interventions for one batch: add <paramref name="factor"/> · <paramref name="vector"/> to
    /// blocks.{l}.hook_resid_post (the decoder layer's output) for every l in <paramref name="layers"/>, at each row's
    /// <see cref="TruthPrompt.Positions"/>. factor &gt; 0 pushes towards true, &lt; 0 towards false.
    /// </summary>
    public static IReadOnlyList<Intervention> Build(IReadOnlyList<TruthPrompt> batch, float[] vector, IReadOnlyList<int> layers, float factor)
    {
        var result = new List<Intervention>();
        // Rows sharing their positions share one intervention per layer.
        var groups = Enumerable.Range(0, batch.Count).GroupBy(b => (batch[b].Positions[0], batch[b].Positions[1])).ToList();
        foreach (int l in layers)
            foreach (var g in groups)
                result.Add(Intervention.Add(HookName.ResidPost(l), vector, factor, [.. g], [g.Key.Item1, g.Key.Item2]));
        return result;
    }

    /// <summary>
    /// The mean over prompts of P(true token) − P(false token) at the last position, with the direction added
    /// (<paramref name="factor"/> &gt; 0) or subtracted (&lt; 0) over <paramref name="layers"/>, or untouched when
    /// <paramref name="vector"/> is null.
    /// </summary>
    public static double MeanProbabilityDifference(IHookedModel session, IReadOnlyList<TruthPrompt> prompts, int trueId, int falseId,
        float[]? vector, IReadOnlyList<int> layers, float factor, int batchSize = 32, CancellationToken cancellation = default)
    {
        if (prompts.Count == 0) Throw.Argument("no prompts to run", "prompts", 0);
        if (batchSize <= 0) Throw.Argument("batch size must be positive", "batch_size", batchSize);
        int pad = session.Config.PadTokenId ?? 0;
        double sum = 0;
        Batches.Run(session, prompts, batchSize, batch => ForwardRequest.FromPrompts(batch.Select(p => p.Tokens).ToList(), pad) with
        {
            LogitPositions = [-1],
            Interventions = vector is null ? null : Build(batch, vector, layers, factor),
        }, (_, batch, r) =>
        {
            for (int b = 0; b < batch.Count; b++)
            {
                var (pt, pf) = Probabilities(r.Logits.Vector(b, 0), trueId, falseId);
                sum += pt - pf;
            }
        }, cancellation: cancellation);
        return sum / prompts.Count;
    }

    /// <summary>softmax(logits)[trueId] and [falseId], in double.</summary>
    internal static (double True, double False) Probabilities(ReadOnlySpan<float> logits, int trueId, int falseId)
    {
        double max = double.NegativeInfinity;
        foreach (var v in logits) max = Math.Max(max, v);
        double z = 0;
        foreach (var v in logits) z += Math.Exp(v - max);
        return (Math.Exp(logits[trueId] - max) / z, Math.Exp(logits[falseId] - max) / z);
    }

    /// <summary>IE(T→F) = (p_int − p_base) / (−1 − p_base): the share of the way from p_base to −1 that subtracting covers.</summary>
    public static double EffectTrueToFalse(double pBase, double pIntervened) => (pIntervened - pBase) / (-1 - pBase);

    /// <summary>IE(F→T) = (p_int − p_base) / (1 − p_base): the share of the way from p_base to +1 that adding covers.</summary>
    public static double EffectFalseToTrue(double pBase, double pIntervened) => (pIntervened - pBase) / (1 - pBase);
}
