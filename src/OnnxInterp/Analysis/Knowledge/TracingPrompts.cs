using OnnxInterp.Internals;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis.Knowledge;

/// <summary>
/// A true/false prompt pair for causal tracing: the same few-shot prefix, then the statement and
/// " This statement is:". Only the last <see cref="Patched"/> positions (statement and suffix) are patched;
/// <see cref="Labels"/> names them (s1.., o1.., template tokens).
/// </summary>
public sealed record TracingPrompt(StatementPair Pair, int[] TrueTokens, int[] FalseTokens, int Patched, string[] Labels)
{
    public int PrefixLength => TrueTokens.Length - Patched;
}

/// <summary>Builds the paper's few-shot prompts for curated pairs.</summary>
public static class TracingPrompts
{
    public const string Question = " This statement is:";

    /// <summary>
    /// The paper's hard-coded few-shot examples (patching.py): two true and two false statements per dataset.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, (string[] True, string[] False)> PaperExamples = new Dictionary<string, (string[], string[])>
    {
        ["cities"] = (["The city of Dar es Salaam is in Tanzania.", "The city of Kozhikode is in India."],
            ["The city of Dar es Salaam is in Italy.", "The city of Kozhikode is in the United States."]),
        ["neg_cities"] = (["The city of Dar es Salaam is not in Italy.", "The city of Kozhikode is not in the United States."],
            ["The city of Dar es Salaam is not in Tanzania.", "The city of Kozhikode is not in India."]),
        ["larger_than"] = (["Seventy-eight is larger than seventy-three.", "Ninety-six is larger than sixty-six."],
            ["Fifty-eight is larger than ninety-six.", "Seventy-nine is larger than ninety-seven."]),
        ["smaller_than"] = (["Fifty-eight is smaller than ninety-six.", "Seventy-nine is smaller than ninety-seven."],
            ["Seventy-eight is smaller than seventy-three.", "Ninety-six is smaller than sixty-six."]),
        ["sp_en_trans"] = (["The Spanish word 'bosque' means 'forest'.", "The Spanish word 'piel' means 'skin'."],
            ["The Spanish word 'gobernar' means 'to eat'.", "The Spanish word 'edad' means 'clock'."]),
        ["neg_sp_en_trans"] = (["The Spanish word 'gobernar' does not mean 'to eat'.", "The Spanish word 'edad' does not mean 'clock'."],
            ["The Spanish word 'bosque' does not mean 'forest'.", "The Spanish word 'piel' does not mean 'skin'."]),
    };

    /// <summary>
    /// For each pair: the 4 examples ("… This statement is: TRUE\n" / FALSE) shuffled with a per-item seeded order
    /// shared by the pair's two prompts, then the statement and " This statement is:".
    /// </summary>
    public static IReadOnlyList<TracingPrompt> Build(IReadOnlyList<StatementPair> pairs, IReadOnlyList<(string Statement, bool True)> examples,
        HfTokenizer tokenizer, int seed = 1)
    {
        if (examples.Count == 0) Throw.Argument("few-shot examples are needed", "examples", 0);
        var rng = new Random(seed);
        var lines = examples.Select(e => $"{e.Statement} This statement is: {(e.True ? "TRUE" : "FALSE")}\n").ToArray();
        var result = new List<TracingPrompt>();
        var questionLabels = tokenizer.EncodeToTokens(Question, addSpecialTokens: false).Select(t => t.Replace("Ġ", "").Replace("▁", "")).ToArray();
        foreach (var pair in pairs)
        {
            rng.Shuffle(lines);
            string prefix = string.Concat(lines);
            var prefixTokens = tokenizer.Encode(prefix);
            var t = tokenizer.Encode(prefix + pair.True + Question);
            var f = tokenizer.Encode(prefix + pair.False + Question);
            if (t.Length != f.Length) continue;  // the pair's token counts only match in isolation
            int patched = t.Length - prefixTokens.Length;
            if (!t.AsSpan(0, prefixTokens.Length).SequenceEqual(prefixTokens) || patched != pair.TrueTokens.Length + questionLabels.Length)
                continue;  // the prefix/statement boundary does not tokenise cleanly
            result.Add(new TracingPrompt(pair, t, f, patched, [.. pair.Labels, .. questionLabels]));
        }
        return result;
    }
}
