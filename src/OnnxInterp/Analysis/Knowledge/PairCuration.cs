using OnnxInterp.Data;
using OnnxInterp.Internals;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis.Knowledge;

/// <summary>What each token of a statement is: template text, a subject token (s1, s2, …) or an object token (o1, …).</summary>
public enum TokenRole
{
    Template,
    Subject,
    Object,
}

/// <summary>
/// A true statement and a false one that differ only in the subject: same object, same token count, same tokens
/// outside the subject. <see cref="Labels"/> names each statement token ("The", "s1", "s2", "o1", "."), as the
/// paper's figures label columns.
/// </summary>
public sealed record StatementPair(string True, string False, string TrueSubject, string FalseSubject, string Object,
    int[] TrueTokens, int[] FalseTokens, TokenRole[] Roles, string[] Labels)
{
    /// <summary>Where the subject starts in <see cref="True"/> (characters); −1 when the statement has no template (tulu_extracted).</summary>
    public int SubjectOffset { get; init; } = -1;

    /// <summary>Where the object starts in <see cref="True"/> (characters); −1 when the statement has no template.</summary>
    public int ObjectOffset { get; init; } = -1;
}

/// <summary>How many statements survived each step, for the report.</summary>
public sealed record CurationResult(string Dataset, IReadOnlyList<StatementPair> Pairs, int TrueStatements, int FalseStatements,
    int TrueFitting, int FalseFitting, int Unpaired)
{
    /// <summary>How the pairs were chosen, for the report: the token counts and where they come from (the paper's table or the rule).</summary>
    public string Rule { get; init; } = "";
}

/// <summary>
/// Pair curation as in the paper: for a given tokenizer, keep true statements whose tokens fit the dataset's
/// template (the subject and object tokenise on their own, the template text tokenises the same in every
/// statement), then pair each with an unused false statement that has the same object and the same token
/// count and differs only in the subject tokens.
/// </summary>
public static class PairCuration
{
    public static CurationResult Curate(StatementDataset dataset, HfTokenizer tokenizer, StatementTemplate? template = null,
        int? subjectTokens = null, int? objectTokens = null)
    {
        template ??= StatementTemplate.For(dataset.Name);
        var fitting = new List<(Statement S, Tokenized T)>();
        int trueCount = 0, falseCount = 0;
        foreach (var s in dataset.Statements)
        {
            if (s.Label == 1) trueCount++; else falseCount++;
            var t = Tokenize(s.Text, template, tokenizer);
            if (t is null) continue;
            if (subjectTokens is int sn && t.SubjectCount != sn) continue;
            if (objectTokens is int on && t.ObjectCount != on) continue;
            fitting.Add((s, t));
        }
        var trues = fitting.Where(x => x.S.Label == 1).ToList();
        var falses = fitting.Where(x => x.S.Label == 0).ToList();
        var used = new bool[falses.Count];
        var pairs = new List<StatementPair>();
        foreach (var (ts, tt) in trues)
        {
            for (int i = 0; i < falses.Count; i++)
            {
                var (fs, ft) = falses[i];
                if (used[i] || ft.Object != tt.Object || ft.Subject == tt.Subject || !SameOutsideSubject(tt, ft)) continue;
                used[i] = true;
                pairs.Add(tt.Pair(ts.Text, fs.Text, ft, tokenizer));
                break;
            }
        }
        return new CurationResult(dataset.Name, pairs, trueCount, falseCount, trues.Count, falses.Count, trues.Count - pairs.Count);
    }

    /// <summary>
    /// Curation as the paper's code does it (Knowledge+Truthfulness/patching_process_data.py, sample_data): keep the
    /// statements whose tokens have the dataset's pattern, here the template's tokens around exactly
    /// <paramref name="subjectTokens"/> subject and <paramref name="objectTokens"/> object tokens (the paper hard-codes
    /// the ids per family, lines 34–170); then, in dataset order, pair each true statement with a false one ending in the
    /// same last word (whitespace-split): while the word has more than one unused false statement the last one is popped,
    /// and the final one is reused for every later true statement with that word (lines 180–190). True statements whose
    /// word no false statement has are dropped. So one false statement may serve several pairs.
    /// </summary>
    public static CurationResult CuratePaper(StatementDataset dataset, HfTokenizer tokenizer, int subjectTokens, int objectTokens,
        StatementTemplate? template = null)
    {
        template ??= StatementTemplate.For(dataset.Name);
        int trueCount = 0, falseCount = 0;
        var trues = new List<(Statement S, Tokenized T)>();
        var falseByWord = new Dictionary<string, List<(Statement S, Tokenized T)>>(StringComparer.Ordinal);
        int falseFitting = 0;
        foreach (var s in dataset.Statements)
        {
            if (s.Label == 1) trueCount++; else falseCount++;
            var t = Tokenize(s.Text, template, tokenizer);
            if (t is null || t.SubjectCount != subjectTokens || t.ObjectCount != objectTokens) continue;
            if (s.Label == 1) { trues.Add((s, t)); continue; }
            falseFitting++;
            string word = LastWord(s.Text);
            if (!falseByWord.TryGetValue(word, out var list)) falseByWord[word] = list = [];
            list.Add((s, t));
        }
        var pairs = new List<StatementPair>();
        foreach (var (ts, tt) in trues)
        {
            if (!falseByWord.TryGetValue(LastWord(ts.Text), out var pool)) continue;
            var (fs, ft) = pool[^1];
            if (pool.Count > 1) pool.RemoveAt(pool.Count - 1);
            pairs.Add(tt.Pair(ts.Text, fs.Text, ft, tokenizer));
        }
        return new CurationResult(dataset.Name, pairs, trueCount, falseCount, trues.Count, falseFitting, trues.Count - pairs.Count);
    }

    /// <summary>
    /// Curation of a dataset of consecutive true/false rows without a sentence template (the paper's tulu_extracted):
    /// rows 2k and 2k + 1 are a pair (label 1 then 0), kept when both statements have the same token count
    /// (patching_process_data.py lines 27–36). Every token is a template token: tracing collapses the positions into
    /// the ones where the two statements differ ("knowledge"), the others, and the last.
    /// </summary>
    /// <exception cref="InvalidFileException">A row pair is not a true row followed by a false one, or the row count is odd.</exception>
    public static CurationResult CurateConsecutive(StatementDataset dataset, HfTokenizer tokenizer)
    {
        var rows = dataset.Statements;
        if (rows.Count % 2 != 0)
            throw new InvalidArgumentException("a dataset of consecutive true/false rows needs an even number of rows", "dataset", $"{dataset.Name}: {rows.Count} rows");
        var pairs = new List<StatementPair>();
        for (int i = 0; i < rows.Count; i += 2)
        {
            var (t, f) = (rows[i], rows[i + 1]);
            if (t.Label != 1 || f.Label != 0)
                throw new InvalidArgumentException($"rows {i + 1} and {i + 2} must be a true statement followed by a false one (the paper pairs consecutive rows)", "label", $"{t.Label}, {f.Label}");
            var ti = tokenizer.Encode(t.Text, false);
            var fi = tokenizer.Encode(f.Text, false);
            if (ti.Length != fi.Length) continue;
            var roles = new TokenRole[ti.Length];
            pairs.Add(new StatementPair(t.Text, f.Text, "", "", "", ti, fi, roles, ti.Select(id => tokenizer.Decode([id]).Trim()).ToArray()));
        }
        int n = rows.Count / 2;
        return new CurationResult(dataset.Name, pairs, n, n, n, n, n - pairs.Count)
        {
            Rule = "consecutive true/false rows of equal token length (patching_process_data.py 27-36)",
        };
    }

    /// <summary>Python's <c>statement.strip().split()[-1]</c>.</summary>
    static string LastWord(string statement) => statement.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries) is { Length: > 0 } w ? w[^1] : "";

    sealed record Tokenized(string Subject, string Object, int[] Ids, TokenRole[] Roles, int SubjectStart, int SubjectCount, int ObjectCount,
        int SubjectOffset, int ObjectOffset)
    {
        public StatementPair Pair(string trueText, string falseText, Tokenized f, HfTokenizer tok) =>
            new(trueText, falseText, Subject, f.Subject, Object, Ids, f.Ids, Roles, Labels(tok)) { SubjectOffset = SubjectOffset, ObjectOffset = ObjectOffset };

        public string[] Labels(HfTokenizer tok)
        {
            var labels = new string[Ids.Length];
            int s = 0, o = 0;
            for (int i = 0; i < Ids.Length; i++)
                labels[i] = Roles[i] switch
                {
                    TokenRole.Subject => $"s{++s}",
                    TokenRole.Object => $"o{++o}",
                    _ => tok.Decode([Ids[i]]).Trim() is { Length: > 0 } text ? text : tok.Decode([Ids[i]]),
                };
            return labels;
        }
    }

    /// <summary>
    /// Tokenises a statement piecewise (prefix, subject, middle, object, suffix) and checks that the pieces' tokens
    /// concatenate to the whole statement's tokens, so every token belongs to exactly one part.
    /// </summary>
    static Tokenized? Tokenize(string text, StatementTemplate template, HfTokenizer tok)
    {
        var match = template.Match(text);
        if (match is null) return null;
        var (subject, obj) = match.Value;
        var (prefix, middle, suffix) = template.Parts;
        var whole = tok.Encode(text, addSpecialTokens: false);
        // Spaces before a part belong to it: byte-level and SentencePiece BPE attach them to the following word.
        int[] upToPrefix = tok.Encode(prefix.TrimEnd(), false), upToSubject = tok.Encode(prefix + subject, false),
            upToMiddle = tok.Encode((prefix + subject + middle).TrimEnd(), false), upToObject = tok.Encode(prefix + subject + middle + obj, false);
        if (!IsPrefix(upToPrefix, upToSubject) || !IsPrefix(upToSubject, upToMiddle) || !IsPrefix(upToMiddle, upToObject) || !IsPrefix(upToObject, whole))
            return null;
        var roles = new TokenRole[whole.Length];
        for (int i = upToPrefix.Length; i < upToSubject.Length; i++) roles[i] = TokenRole.Subject;
        for (int i = upToMiddle.Length; i < upToObject.Length; i++) roles[i] = TokenRole.Object;
        int sCount = upToSubject.Length - upToPrefix.Length, oCount = upToObject.Length - upToMiddle.Length;
        if (sCount == 0 || oCount == 0) return null;
        return new Tokenized(subject, obj, whole, roles, upToPrefix.Length, sCount, oCount, prefix.Length, prefix.Length + subject.Length + middle.Length);
    }

    static bool IsPrefix(int[] a, int[] b) => a.Length <= b.Length && a.AsSpan().SequenceEqual(b.AsSpan(0, a.Length));

    static bool SameOutsideSubject(Tokenized a, Tokenized b)
    {
        if (a.Ids.Length != b.Ids.Length || a.SubjectStart != b.SubjectStart || a.SubjectCount != b.SubjectCount) return false;
        for (int i = 0; i < a.Ids.Length; i++)
            if (a.Roles[i] != TokenRole.Subject && a.Ids[i] != b.Ids[i]) return false;
        return true;
    }
}
