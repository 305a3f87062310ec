using OnnxInterp.Internals;
using OnnxInterp.Runtime;

namespace OnnxInterp.Analysis.Editing;

/// <summary>
/// ROME's CounterFact scores of one fact on one model, each a fraction in [0, 1] (null when the fact has no such prompts):
/// efficacy (the target beats the old object after the prompt), paraphrase (the same over the paraphrases) and specificity
/// (neighbourhood prompts keep their own answer over the target). "Beats" compares mean token log-probabilities, as ROME
/// does; <see cref="Margin"/> is that difference on the prompt (nats).
/// </summary>
public sealed record FactScores(double Efficacy, double? Paraphrase, double? Specificity, double Margin);

/// <summary>Scores facts on a model (<see cref="FactScores"/>) and generates after their prompts.</summary>
public static class EditScoring
{
    public static IReadOnlyList<FactScores> Score(IHookedModel model, IReadOnlyList<ResolvedFact> facts, int batchSize = 32, CancellationToken cancellation = default)
    {
        var queries = new List<(string Prompt, string Answer)>();
        foreach (var f in facts)
        {
            queries.Add((f.Prompt, f.Target));
            queries.Add((f.Prompt, f.Old));
            foreach (var p in f.Paraphrases) { queries.Add((p, f.Target)); queries.Add((p, f.Old)); }
            foreach (var nb in f.Neighbours) { queries.Add((nb.Prompt, f.Target)); queries.Add((nb.Prompt, nb.Answer)); }
        }
        var lp = EditTokens.MeanLogProbs(model, queries, batchSize, cancellation: cancellation);
        var result = new List<FactScores>();
        int at = 0;
        foreach (var f in facts)
        {
            double margin = lp[at] - lp[at + 1];
            at += 2;
            int para = 0, kept = 0;
            for (int i = 0; i < f.Paraphrases.Count; i++, at += 2) if (lp[at] > lp[at + 1]) para++;
            for (int i = 0; i < f.Neighbours.Count; i++, at += 2) if (lp[at + 1] > lp[at]) kept++;
            result.Add(new FactScores(margin > 0 ? 1 : 0, f.Paraphrases.Count == 0 ? null : para / (double)f.Paraphrases.Count,
                f.Neighbours.Count == 0 ? null : kept / (double)f.Neighbours.Count, margin));
        }
        return result;
    }

    /// <summary>Greedy continuations of the prompts (<paramref name="tokens"/> new tokens each).</summary>
    public static IReadOnlyList<string> Generate(IHookedModel model, IReadOnlyList<string> prompts, int tokens, CancellationToken cancellation = default)
    {
        var tokenizer = model.Tokenizer;
        var result = model.Generate(prompts.Select(p => tokenizer.Encode(p)).ToList(), new GenerationOptions { MaxNewTokens = tokens }, cancellation: cancellation);
        return result.Tokens.Select(t => tokenizer.Decode(t, skipSpecialTokens: true)).ToList();
    }

    /// <summary>
    /// Facts without an old object get the model's own answer: its greedy continuation of the prompt up to the first '.', ',',
    /// ';' or line end; neighbours without an answer take it too.
    /// </summary>
    /// <exception cref="InvalidArgumentException">The model's answer is empty or the target itself; the field is the fact's "old".</exception>
    public static IReadOnlyList<ResolvedFact> WithModelAnswers(IHookedModel model, IReadOnlyList<ResolvedFact> facts, int tokens = 8, CancellationToken cancellation = default)
    {
        var missing = facts.Where(f => f.Old.Length == 0).ToList();
        if (missing.Count == 0) return facts;
        var answers = Generate(model, missing.Select(f => f.Prompt).ToList(), tokens, cancellation);
        var byIndex = new Dictionary<int, string>();
        for (int i = 0; i < missing.Count; i++)
        {
            var text = answers[i];
            int stop = text.IndexOfAny(['.', ',', ';', '\n']);
            var answer = (stop < 0 ? text : text[..stop]).Trim();
            if (answer.Length == 0 || answer == missing[i].Target)
                Throw.Argument($"the model's own answer to \"{missing[i].Prompt}\" is \"{text}\", which cannot be the old object; give the fact's \"old\"", $"[{missing[i].Index}].old", answer);
            byIndex[missing[i].Index] = answer;
        }
        return facts.Select(f => byIndex.TryGetValue(f.Index, out var old)
            ? f with { Old = old, Neighbours = f.Neighbours.Select(nb => nb.Answer.Length == 0 ? nb with { Answer = old } : nb).ToList() }
            : f).ToList();
    }

    /// <summary>The mean of the non-null values, or null when there is none.</summary>
    public static double? Mean(IEnumerable<double?> values)
    {
        var v = values.OfType<double>().ToList();
        return v.Count == 0 ? null : v.Average();
    }
}
