using OnnxInterp.Internals;
using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis.Editing;

/// <summary>Where a subject and an answer lie in a prompt's tokens, and answers' log-probabilities under a model.</summary>
public static class EditTokens
{
    /// <summary>The prompt's tokens and the index of the token holding the subject's last character (its last occurrence).</summary>
    public static (int[] Ids, int SubjectLast) Subject(HfTokenizer tokenizer, string prompt, string subject)
    {
        int at = prompt.LastIndexOf(subject, StringComparison.Ordinal);
        if (at < 0) Throw.Argument($"the subject is not in the prompt \"{prompt}\"", "subject", subject);
        var ids = tokenizer.Encode(prompt);
        var ends = TokenAlignment.TokenEnds(tokenizer, prompt, ids);
        int last = TokenAlignment.FirstTokenAt(ends, at + subject.Length - 1);
        if (last == ids.Length) Throw.Argument("no token covers the subject", "subject", subject);
        return (ids, last);
    }

    /// <summary>
    /// The tokens of <paramref name="prompt"/> + " " + <paramref name="answer"/>, and how many belong to the prompt (those before
    /// the first token covering the answer's characters, so a tokenizer that merges across the boundary is handled).
    /// </summary>
    public static (int[] Ids, int PromptLength) WithAnswer(HfTokenizer tokenizer, string prompt, string answer)
    {
        string text = prompt + " " + answer;
        var ids = tokenizer.Encode(text);
        var ends = TokenAlignment.TokenEnds(tokenizer, text, ids);
        int first = TokenAlignment.FirstTokenAt(ends, prompt.Length + 1);
        if (first == 0 || first == ids.Length) Throw.Argument("the answer has no token of its own after the prompt", "answer", answer);
        return (ids, first);
    }

    /// <summary>The first token of the answer after the prompt (the one causal tracing scores).</summary>
    public static int FirstAnswerToken(HfTokenizer tokenizer, string prompt, string answer)
    {
        var (ids, n) = WithAnswer(tokenizer, prompt, answer);
        return ids[n];
    }

    /// <summary>
    /// The mean log-probability per token of each answer after its prompt (ROME's comparison of a new and an old object),
    /// in batches of left-padded rows. <paramref name="interventions"/>, given a query's index, its batch row and its left
    /// padding, returns the interventions for that row (positions shifted by the padding) to apply during the run.
    /// </summary>
    public static double[] MeanLogProbs(IHookedModel model, IReadOnlyList<(string Prompt, string Answer)> queries, int batchSize = 32,
        Func<int, int, int, IReadOnlyList<Intervention>>? interventions = null, CancellationToken cancellation = default)
    {
        var tokenizer = model.Tokenizer;
        var rows = queries.Select(q => WithAnswer(tokenizer, q.Prompt, q.Answer)).ToList();
        var result = new double[rows.Count];
        int pad = tokenizer.PadTokenId ?? 0;
        Batches.Run(model, Enumerable.Range(0, rows.Count).ToList(), batchSize, batch =>
        {
            var request = ForwardRequest.FromPrompts(batch.Select(i => rows[i].Ids).ToList(), pad);
            int width = request.InputIds[0].Length;
            int keep = batch.Max(i => rows[i].Ids.Length - rows[i].PromptLength) + 1;
            var list = new List<Intervention>();
            if (interventions is not null)
                for (int r = 0; r < batch.Count; r++) list.AddRange(interventions(batch[r], r, width - rows[batch[r]].Ids.Length));
            return request with { LogitPositions = Enumerable.Range(0, keep).Select(j => j - keep).ToArray(), Interventions = list.Count > 0 ? list : null };
        }, (_, batch, r) =>
        {
            int keep = r.Logits.Shape[1];
            for (int b = 0; b < batch.Count; b++)
            {
                var (ids, n) = rows[batch[b]];
                int answer = ids.Length - n;
                double sum = 0;
                for (int j = 0; j < answer; j++)
                    sum += LogSoftmax(r.Logits.Vector(b, keep - 1 - answer + j), ids[n + j]);
                result[batch[b]] = sum / answer;
            }
        }, cancellation: cancellation);
        return result;
    }

    static double LogSoftmax(ReadOnlySpan<float> logits, int token)
    {
        double max = double.NegativeInfinity;
        foreach (var x in logits) max = Math.Max(max, x);
        double z = 0;
        foreach (var x in logits) z += Math.Exp(x - max);
        return logits[token] - max - Math.Log(z);
    }
}
