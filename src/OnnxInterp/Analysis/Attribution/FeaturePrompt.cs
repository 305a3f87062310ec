using OnnxInterp.Internals;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis.Attribution;

/// <summary>One feature of a prompt: a word and the token span [Start, Start + Length) it occupies.</summary>
public sealed record PromptFeature(string Text, int Start, int Length);

/// <summary>
/// A prompt whose features are the words of one span (a statement, an instruction): <see cref="Tokens"/> are the prompt,
/// <see cref="Features"/> the words' token spans, <see cref="Answer"/> tokens scored after it (an answer's log-probability)
/// or none. Everything before the first feature is the same in every coalition: its KV cache is computed once.
/// </summary>
public sealed record FeaturePrompt(string Text, int[] Tokens, IReadOnlyList<PromptFeature> Features)
{
    /// <summary>Tokens appended after the prompt whose log-probability is the scalar (<see cref="AttributionScalarKind.AnswerLogProb"/>); empty otherwise.</summary>
    public int[] Answer { get; init; } = [];

    /// <summary>Tokens before the first feature: shared by every coalition.</summary>
    public int PrefixLength => Features.Count == 0 ? Tokens.Length : Features.Min(f => f.Start);

    /// <summary>
    /// The prompt <paramref name="before"/> + <paramref name="span"/> + <paramref name="after"/>, its features the
    /// whitespace-separated words of <paramref name="span"/>. The three parts are encoded apart and joined (BOS, when the
    /// tokenizer adds one and <paramref name="addSpecialTokens"/> is set, before the first), so a chat template's special
    /// tokens stay out of the span and each word's tokens are found by their character offsets in the span alone; a byte-level
    /// or SentencePiece tokenizer splits at the part boundaries (a newline or a space before a word) as it would in the whole text.
    /// A token covering characters of two words joins them into one feature.
    /// </summary>
    public static FeaturePrompt Words(HfTokenizer tokenizer, string before, string span, string after, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (string.IsNullOrWhiteSpace(span)) Throw.Argument("the span to attribute has no words", "span", span);
        var head = tokenizer.Encode(before, addSpecialTokens);
        var mid = tokenizer.Encode(span, addSpecialTokens: false);
        var tail = after.Length == 0 ? [] : tokenizer.Encode(after, addSpecialTokens: false);
        var ends = TokenAlignment.TokenEnds(tokenizer, span, mid);
        var words = new List<(int From, int To)>();
        for (int i = 0; i < span.Length;)
        {
            if (char.IsWhiteSpace(span[i])) { i++; continue; }
            int j = i;
            while (j < span.Length && !char.IsWhiteSpace(span[j])) j++;
            words.Add((i, j));
            i = j;
        }
        // Each token joins the words whose characters it covers; words that share a token merge.
        var groups = new List<(int FirstWord, int LastWord, int FirstToken, int LastToken)>();
        for (int t = 0; t < mid.Length; t++)
        {
            int from = t == 0 ? 0 : ends[t - 1], to = ends[t];
            int first = -1, last = -1;
            for (int w = 0; w < words.Count; w++)
                if (from < words[w].To && to > words[w].From)
                {
                    if (first < 0) first = w;
                    last = w;
                }
            if (first < 0) continue;  // whitespace only, or a special token
            if (groups.Count > 0 && groups[^1].LastWord >= first)
                groups[^1] = (groups[^1].FirstWord, Math.Max(last, groups[^1].LastWord), groups[^1].FirstToken, t);
            else groups.Add((first, last, t, t));
        }
        var features = groups.Select(g => new PromptFeature(span[words[g.FirstWord].From..words[g.LastWord].To], head.Length + g.FirstToken,
            g.LastToken - g.FirstToken + 1)).ToList();
        if (features.Count == 0) Throw.Argument("no token of the span covers a word", "span", span);
        return new FeaturePrompt(before + span + after, [.. head, .. mid, .. tail], features);
    }

    /// <summary>The prompt's tokens with the features absent from <paramref name="coalition"/> replaced, token by token, by <paramref name="baselineToken"/>.</summary>
    public int[] Masked(bool[] coalition, int baselineToken)
    {
        if (coalition.Length != Features.Count)
            Throw.Argument($"a coalition has one entry per feature ({Features.Count})", "coalition", coalition.Length);
        var ids = (int[])Tokens.Clone();
        for (int i = 0; i < coalition.Length; i++)
            if (!coalition[i])
                for (int t = 0; t < Features[i].Length; t++) ids[Features[i].Start + t] = baselineToken;
        return ids;
    }
}
