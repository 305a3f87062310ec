using OnnxInterp.Data;
using OnnxInterp.Internals;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis.Confidence;

/// <summary>A labelled statement inside the few-shot judging prompt, tokenised; the answer is predicted after the last token.</summary>
public sealed record JudgingPrompt(string Statement, bool Label, int[] Tokens);

/// <summary>
/// The knowledge analysis' few-shot judging prompt for single statements: the examples as
/// "{statement} This statement is: TRUE|FALSE\n" in a per-item seeded order, then the statement and
/// " This statement is:" (<see cref="JudgingAnswers.Question"/>). Plain text for every model, as the paper prompts.
/// </summary>
public static class JudgingPrompts
{
    /// <summary>
    /// At most <paramref name="max"/> statements (a seeded shuffle of the dataset, so both labels appear), leaving out
    /// statements that are themselves few-shot examples.
    /// </summary>
    public static IReadOnlyList<JudgingPrompt> Build(StatementDataset dataset, IReadOnlyList<(string Statement, bool True)> examples,
        HfTokenizer tokenizer, int? max = null, int seed = 1)
    {
        if (examples.Count == 0) Throw.Argument("few-shot examples are needed", "examples", 0);
        if (max is < 1) Throw.Argument("at least one statement is needed", "maxStatements", max);
        var rng = new Random(seed);
        var lines = JudgingAnswers.ExampleLines(examples);
        var exampleTexts = examples.Select(e => e.Statement).ToHashSet(StringComparer.Ordinal);
        var statements = dataset.Statements.Where(s => !exampleTexts.Contains(s.Text)).ToArray();
        rng.Shuffle(statements);
        var result = new List<JudgingPrompt>();
        foreach (var s in statements.Take(max ?? int.MaxValue))
        {
            rng.Shuffle(lines);
            result.Add(new JudgingPrompt(s.Text, s.Label == 1, tokenizer.Encode(string.Concat(lines) + JudgingAnswers.Query(s.Text))));
        }
        if (result.Count == 0) Throw.Argument("no statement is left once the few-shot examples are set aside", "dataset", dataset.Name);
        return result;
    }
}
