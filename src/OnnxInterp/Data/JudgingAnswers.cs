using OnnxInterp.Internals;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Data;

/// <summary>
/// The paper's judging prompt, shared by causal tracing, the truth intervention and calibration: few-shot lines
/// "STATEMENT This statement is: TRUE|FALSE\n", then the statement and <see cref="Question"/>, answered by
/// <see cref="True"/> or <see cref="False"/>.
/// </summary>
public static class JudgingAnswers
{
    public const string True = " TRUE";
    public const string False = " FALSE";

    /// <summary>What follows a statement to ask for the judgement.</summary>
    public const string Question = " This statement is:";

    /// <summary>One few-shot example line, newline included.</summary>
    public static string ExampleLine(string statement, bool isTrue) => $"{statement}{Question} {(isTrue ? "TRUE" : "FALSE")}\n";

    /// <summary>The example lines of <paramref name="examples"/>, in their order.</summary>
    public static string[] ExampleLines(IEnumerable<(string Statement, bool True)> examples) => examples.Select(e => ExampleLine(e.Statement, e.True)).ToArray();

    /// <summary>The query after the examples: the statement and the question.</summary>
    public static string Query(string statement) => statement + Question;

    /// <summary>
    /// The tokens whose logits the metrics compare: the last id of each answer encoded alone, as the paper takes
    /// <c>tokenizer(" TRUE").input_ids[-1]</c> (Knowledge+Truthfulness/patching.py line 244): a SentencePiece tokenizer
    /// encodes " TRUE" as "▁" + "▁TRUE", and "▁TRUE" is what follows "is:" in the prompt; byte-level BPE gives one token.
    /// </summary>
    /// <param name="tokenizer">The models' tokenizer.</param>
    /// <param name="trueAnswer">The answer text of a true statement, e.g. " TRUE".</param>
    /// <param name="falseAnswer">The answer text of a false statement, e.g. " FALSE".</param>
    /// <param name="option">The option prefix named in errors, e.g. "knowledge" (→ knowledge.trueAnswer).</param>
    /// <exception cref="InvalidArgumentException">An answer encodes to no token, or both end with the same token.</exception>
    public static (int True, int False) Tokens(HfTokenizer tokenizer, string trueAnswer, string falseAnswer, string option)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        int Last(string text, string field)
        {
            var ids = tokenizer.Encode(text, addSpecialTokens: false);
            if (ids.Length == 0) Throw.Argument("the answer encodes to no token", field, text);
            return ids[^1];
        }
        int t = Last(trueAnswer, $"{option}.trueAnswer"), f = Last(falseAnswer, $"{option}.falseAnswer");
        if (t == f)
            Throw.Argument($"the two answers end with the same token ({t}) for this tokenizer; pass answers whose last tokens differ with --set {option}.trueAnswer=... --set {option}.falseAnswer=...",
                $"{option}.trueAnswer", $"'{trueAnswer}' / '{falseAnswer}'");
        return (t, f);
    }
}
