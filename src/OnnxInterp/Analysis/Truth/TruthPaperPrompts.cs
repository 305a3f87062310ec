using OnnxInterp.Data;
using OnnxInterp.Internals;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis.Truth;

/// <summary>One query of the paper's intervention: the statement, its index in its subset (the seed is 1 + index) and the text.</summary>
public sealed record TruthPaperQuery(int Index, Statement Statement, string Text);

/// <summary>
/// The paper's few-shot queries and intervention positions, byte for byte (interventions.py prepare_data, lines 76-116,
/// and intervention_experiment, lines 29-42).
/// </summary>
public static class TruthPaperPrompts
{
    /// <summary>An example as few_shot_samples.json writes it: "STATEMENT This statement is: TRUE" (or FALSE), no newline.</summary>
    public static string ExampleLine(string statement, bool isTrue) => $"{statement}{TruthPaperSettings.Question} {(isTrue ? "TRUE" : "FALSE")}";

    /// <summary>
    /// The queries of one subset (the true or the false statements, in the dataset's order: interventions.py:93-95,
    /// 237-238), as prepare_data builds them: for statement i, <c>random.seed(seed + i)</c>, a fresh copy of the examples
    /// (in few_shot_samples.json's order) shuffled by <c>random.shuffle</c>, joined with "\n", then "\n", the statement and
    /// " This statement is:". A statement that occurs in the joined examples is left out (line 112) but still uses up
    /// its index, so the seeds of the following statements do not shift.
    /// </summary>
    public static IReadOnlyList<TruthPaperQuery> Queries(IReadOnlyList<Statement> subset, IReadOnlyList<(string Statement, bool True)> examples,
        int seed = TruthPaperSettings.Seed)
    {
        if (examples.Count == 0) Throw.Argument("few-shot examples are needed", "examples", 0);
        var lines = examples.Select(e => ExampleLine(e.Statement, e.True)).ToArray();
        var queries = new List<TruthPaperQuery>();
        for (int i = 0; i < subset.Count; i++)
        {
            var shuffled = (string[])lines.Clone();
            new PythonRandom(seed + (long)i).Shuffle(shuffled);
            string joined = string.Join("\n", shuffled);
            string statement = subset[i].Text;
            if (joined.Contains(statement, StringComparison.Ordinal)) continue;
            queries.Add(new TruthPaperQuery(i, subset[i], joined + "\n" + statement + TruthPaperSettings.Question));
        }
        return queries;
    }

    /// <summary>
    /// The two intervened positions, counted from the end: <c>-len_suffix - 1</c> and <c>-len_suffix</c> (interventions.py:30,
    /// 41, 156-159: offsets −1 and 0 when noperiod is False, as for every model of config.ini), len_suffix being the
    /// token count of "This statement is:" with the tokenizer's special tokens. With a BOS-adding tokenizer that splits
    /// " This statement is:" into four tokens these are the statement's period and the token before it.
    /// </summary>
    public static int[] Positions(HfTokenizer tokenizer)
    {
        int lenSuffix = tokenizer.Encode(TruthPaperSettings.SuffixForLength).Length;
        return [-lenSuffix - 1, -lenSuffix];
    }

    /// <summary>
    /// The tokenised queries of one subset, each with <see cref="Positions"/>; returns them and how many statements were
    /// left out because they occur in the examples.
    /// </summary>
    public static (IReadOnlyList<TruthPrompt> Prompts, int Skipped) Build(IReadOnlyList<Statement> subset, IReadOnlyList<(string Statement, bool True)> examples,
        HfTokenizer tokenizer, int seed = TruthPaperSettings.Seed)
    {
        var queries = Queries(subset, examples, seed);
        var positions = Positions(tokenizer);
        var prompts = new List<TruthPrompt>(queries.Count);
        foreach (var q in queries)
        {
            var tokens = tokenizer.Encode(q.Text);
            if (tokens.Length < -positions[0])
                Throw.Argument($"the query has {tokens.Length} tokens, fewer than the intervened position {positions[0]} needs", "statement", q.Statement.Text);
            prompts.Add(new TruthPrompt(q.Statement.Text, q.Statement.Label == 1, tokens, positions));
        }
        return (prompts, subset.Count - queries.Count);
    }
}
