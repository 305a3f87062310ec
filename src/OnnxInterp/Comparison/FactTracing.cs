using OnnxInterp.Analysis.Editing;
using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Comparison;

/// <summary>
/// Causal tracing of a fact to edit (ROME's trace of the MLPs, with the knowledge analysis's <see cref="CausalTracing"/>):
/// the fact's prompt is the clean run, the same prompt on a partner subject with as many tokens the corrupted one, and at
/// each (layer, position from the subject on) the fact's blocks.{l}.mlp.hook_post is restored in the partner's run.
/// </summary>
static class FactTracing
{
    public const HookKind Hook = HookKind.MlpPost;

    /// <summary>The prompt pair for a fact and the first partner whose prompt lines up (same token count, same tokens outside the subject), or null.</summary>
    public static TracingPrompt? Pair(HfTokenizer tokenizer, ResolvedFact fact, IEnumerable<string> partners)
    {
        var (t, tFirst, tLast) = SubjectSpan(tokenizer, fact.Prompt, fact.Subject);
        foreach (var partner in partners.Where(p => p != fact.Subject && !fact.Prompt.Contains(p, StringComparison.Ordinal)).Take(500))
        {
            var text = fact.PromptFor(partner);
            var (f, fFirst, fLast) = SubjectSpan(tokenizer, text, partner);
            if (f.Length != t.Length || fFirst != tFirst || fLast != tLast) continue;
            if (!t.AsSpan(0, tFirst).SequenceEqual(f.AsSpan(0, tFirst)) || !t.AsSpan(tLast + 1).SequenceEqual(f.AsSpan(tLast + 1))) continue;
            int patched = t.Length - tFirst;
            var labels = Enumerable.Range(tFirst, patched).Select(i => i <= tLast ? $"s{i - tFirst + 1}" : tokenizer.Decode([t[i]]).Trim() is { Length: > 0 } l ? l : tokenizer.Decode([t[i]])).ToArray();
            var roles = Enumerable.Range(tFirst, patched).Select(i => i <= tLast ? TokenRole.Subject : TokenRole.Template).ToArray();
            var pair = new StatementPair(fact.Prompt, text, fact.Subject, partner, "", t[tFirst..], f[tFirst..], roles, labels);
            return new TracingPrompt(pair, t, f, patched, labels) { TrueText = fact.Prompt, FalseText = text };
        }
        return null;
    }

    /// <summary>The subject-last column of a pair's map: the token index within the patched positions.</summary>
    public static int SubjectLast(TracingPrompt p) => Array.FindLastIndex(p.Labels, l => l.StartsWith('s') && int.TryParse(l.AsSpan(1), out _));

    /// <summary>
    /// Per layer, the share of logit(old) − logit(partner's answer) that restoring the fact's MLP state at the subject's last
    /// token recovers in the partner's run, averaged over the facts with a pair (partners whose own answer is the old object's
    /// first token are left out); null when no fact could be traced.
    /// </summary>
    public static (double[] MeanEffect, int Traced)? Site(IHookedModel model, IReadOnlyList<(ResolvedFact Fact, TracingPrompt? Pair)> facts, CancellationToken cancellation)
    {
        var tokenizer = model.Tokenizer;
        int layers = model.Config.NumLayers;
        var sum = new double[layers];
        int traced = 0;
        foreach (var (fact, pair) in facts)
        {
            if (pair is null) continue;
            int old = EditTokens.FirstAnswerToken(tokenizer, fact.Prompt, fact.Old);
            var partnerLogits = model.Run(new ForwardRequest([pair.FalseTokens]) { LogitPositions = [-1] }, cancellation).Logits.Vector(0, 0);
            int answer = 0;
            for (int i = 1; i < partnerLogits.Length; i++) if (partnerLogits[i] > partnerLogits[answer]) answer = i;
            if (answer == old) continue;
            var trace = CausalTracing.TracePair(model, model, pair, new TracingOptions { Hook = Hook, TrueToken = old, FalseToken = answer }, cancellation);
            double span = trace.CleanTrue - trace.CleanFalse;
            if (Math.Abs(span) < 1e-6) continue;
            int s = SubjectLast(pair);
            for (int l = 0; l < layers; l++) sum[l] += (trace.Values[l, s] - trace.CleanFalse) / span;
            traced++;
        }
        return traced == 0 ? null : (sum.Select(x => x / traced).ToArray(), traced);
    }

    /// <summary>The fact's map of logit(target) − logit(old) on one model: each (layer, position)'s change over the partner's own run.</summary>
    public static double[][]? Map(IHookedModel model, ResolvedFact fact, TracingPrompt pair, CancellationToken cancellation)
    {
        var tokenizer = model.Tokenizer;
        int target = EditTokens.FirstAnswerToken(tokenizer, fact.Prompt, fact.Target), old = EditTokens.FirstAnswerToken(tokenizer, fact.Prompt, fact.Old);
        if (target == old) return null;
        var trace = CausalTracing.TracePair(model, model, pair, new TracingOptions { Hook = Hook, TrueToken = target, FalseToken = old }, cancellation);
        return Enumerable.Range(0, trace.Values.GetLength(0))
            .Select(l => Enumerable.Range(0, trace.Values.GetLength(1)).Select(p => trace.Values[l, p] - trace.CleanFalse).ToArray()).ToArray();
    }

    static (int[] Ids, int First, int Last) SubjectSpan(HfTokenizer tokenizer, string prompt, string subject)
    {
        var ids = tokenizer.Encode(prompt);
        var ends = TokenAlignment.TokenEnds(tokenizer, prompt, ids);
        int at = prompt.LastIndexOf(subject, StringComparison.Ordinal);
        int first = TokenAlignment.FirstTokenAt(ends, at), last = TokenAlignment.FirstTokenAt(ends, at + subject.Length - 1);
        return (ids, first, last);
    }
}
