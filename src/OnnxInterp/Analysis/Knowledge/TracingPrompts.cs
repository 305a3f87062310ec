using OnnxInterp.Data;
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

    /// <summary>The true prompt's text (few-shot prefix, statement, question), as the model reads it.</summary>
    public string TrueText { get; init; } = "";

    /// <summary>The false prompt's text.</summary>
    public string FalseText { get; init; } = "";
}

/// <summary>Builds the paper's few-shot prompts for curated pairs.</summary>
public static class TracingPrompts
{
    public const string Question = JudgingAnswers.Question;

    /// <summary>
    /// The paper's hard-coded few-shot examples (Knowledge+Truthfulness/patching.py, load_data, lines 45–70): two true
    /// and two false statements per dataset; the prompt lists the true ones first (lines 73–75).
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
        ["tulu_extracted"] = (["The Eiffel Tower is located in Paris.", "'The Great Gatsby' was written by F. Scott Fitzgerald."],
            ["The largest moon of Saturn is Earth.", "Albert Einstein developed the theory of evolution."]),
    };

    /// <summary>The paper's examples of <paramref name="dataset"/> in the order its prompt lists them (true ones first), or null.</summary>
    public static IReadOnlyList<(string Statement, bool True)>? PaperExamplesFor(string dataset) =>
        PaperExamples.TryGetValue(dataset, out var ex) ? ex.True.Select(t => (t, true)).Concat(ex.False.Select(f => (f, false))).ToList() : null;

    /// <summary>
    /// The examples causal tracing prompts <paramref name="dataset"/> with: the ones patching.py hard-codes where it has
    /// them, else <paramref name="fromSamples"/> (few_shot_samples.json's, which lies beside the paper's CSVs).
    /// </summary>
    /// <exception cref="InvalidArgumentException">Neither has examples for the dataset; names <paramref name="field"/> and <paramref name="spec"/>.</exception>
    public static IReadOnlyList<(string Statement, bool True)> ExamplesFor(string dataset, IReadOnlyList<(string Statement, bool True)>? fromSamples,
        string field, string spec) =>
        PaperExamplesFor(dataset) ?? fromSamples ?? throw new InvalidArgumentException(
            $"no few-shot examples for this dataset: the paper's code has them for {string.Join(", ", PaperExamples.Keys)}, and " +
            $"{FewShotSamples.FileName} (the paper's datasets folder) beside the CSV adds its datasets; put that file beside the CSV or use one of those datasets",
            field, spec);

    /// <summary>The few-shot line of one example: "{statement} This statement is: TRUE\n" (or FALSE).</summary>
    public static string ExampleLine(string statement, bool isTrue) => JudgingAnswers.ExampleLine(statement, isTrue);

    /// <summary>
    /// For each pair: the examples ("… This statement is: TRUE\n" / FALSE) in a shuffled order shared by the pair's two
    /// prompts, then the statement and " This statement is:". <paramref name="protocol"/> decides the shuffle:
    /// <see cref="AnalysisProtocol.Paper"/> replays the paper's exactly (patching.py: random.seed(1) once, then
    /// random.shuffle of one list in place per pair, so each order builds on the last), the default draws a fresh
    /// permutation per pair from .NET's Random(seed). The statement's tokens are located inside the whole prompt's
    /// tokens by their character offsets, so tokenizers whose tokens depend on context (SentencePiece: "\nThe" vs
    /// "▁The") are handled. Pairs whose two prompts differ in length, or in where the statement starts, are skipped.
    /// </summary>
    public static IReadOnlyList<TracingPrompt> Build(IReadOnlyList<StatementPair> pairs, IReadOnlyList<(string Statement, bool True)> examples,
        HfTokenizer tokenizer, int seed = 1, AnalysisProtocol protocol = AnalysisProtocol.Default)
    {
        if (examples.Count == 0) Throw.Argument("few-shot examples are needed", "examples", 0);
        var lines = examples.Select(e => ExampleLine(e.Statement, e.True)).ToArray();
        var result = new List<TracingPrompt>();
        var python = protocol == AnalysisProtocol.Paper ? new PythonRandom(seed) : null;
        var dotnet = python is null ? new Random(seed) : null;
        foreach (var pair in pairs)
        {
            if (python is not null) python.Shuffle(lines);
            else dotnet!.Shuffle(lines);
            string prefix = string.Concat(lines);
            if (Locate(tokenizer, prefix, pair) is { } prompt) result.Add(prompt);
        }
        return result;
    }

    /// <summary>The pair's two prompts on one prefix, with the statement's tokens found by offset; null if they do not line up.</summary>
    static TracingPrompt? Locate(HfTokenizer tokenizer, string prefix, StatementPair pair)
    {
        string trueText = prefix + pair.True + Question, falseText = prefix + pair.False + Question;
        var t = tokenizer.Encode(trueText);
        var f = tokenizer.Encode(falseText);
        if (t.Length != f.Length) return null;
        var trueEnds = TokenAlignment.TokenEnds(tokenizer, trueText, t);
        int start = TokenAlignment.FirstTokenAt(trueEnds, prefix.Length);
        if (start == t.Length) return null;
        // The prefix's tokens must be the same in both prompts (the statement may not merge into them differently); the
        // same tokens decode to the same characters, so the false statement then starts at the same token.
        if (!t.AsSpan(0, start).SequenceEqual(f.AsSpan(0, start))) return null;
        int n = t.Length - start;
        var labels = new string[n];
        int s = 0, o = 0;
        int statementEnd = prefix.Length + pair.True.Length;
        for (int i = start; i < t.Length; i++)
        {
            int from = i == 0 ? 0 : trueEnds[i - 1], to = trueEnds[i];
            var role = RoleOf(pair, from - prefix.Length, to - prefix.Length, statementEnd - prefix.Length);
            labels[i - start] = role switch
            {
                TokenRole.Subject => $"s{++s}",
                TokenRole.Object => $"o{++o}",
                _ => tokenizer.Decode([t[i]]).Trim() is { Length: > 0 } text ? text : tokenizer.Decode([t[i]]),
            };
        }
        return new TracingPrompt(pair, t, f, n, labels) { TrueText = trueText, FalseText = falseText };
    }

    /// <summary>A token covering statement characters [from, to) is a subject (object) token if it covers any subject (object) character.</summary>
    static TokenRole RoleOf(StatementPair pair, int from, int to, int statementLength)
    {
        if (pair.SubjectOffset < 0 || from >= statementLength) return TokenRole.Template;
        // A space before a part belongs to it, as byte-level and SentencePiece BPE attach it to the following word (a
        // tokenizer without that merge gives the space a token of its own, which then counts as the part's).
        bool Overlaps(int start, int length)
        {
            if (start > 0 && pair.True[start - 1] == ' ') { start--; length++; }
            return from < start + length && to > start;
        }
        if (Overlaps(pair.SubjectOffset, pair.TrueSubject.Length)) return TokenRole.Subject;
        if (Overlaps(pair.ObjectOffset, pair.Object.Length)) return TokenRole.Object;
        return TokenRole.Template;
    }
}
