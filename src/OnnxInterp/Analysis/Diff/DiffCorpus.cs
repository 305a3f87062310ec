using OnnxInterp.Data;
using OnnxInterp.Internals;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis.Diff;

/// <summary>One text of the corpus: a user message rendered in the pair's chat template (<paramref name="Chat"/>), or plain text fed as it is.</summary>
public sealed record CorpusText(string Source, string Text, bool Chat);

/// <summary>Where a token of a prompt comes from: the chat template's text (and BOS), or the text the user gave.</summary>
public enum TokenClass { Template, Content }

/// <summary>A corpus text as both models of a pair read it: its tokens and where each comes from.</summary>
public sealed record CorpusPrompt(int Index, string Source, string Text, int[] Ids, TokenClass[] Classes)
{
    public int Length => Ids.Length;
}

/// <summary>
/// The corpus the per-token divergence runs on: instructions (harmful and harmless, as the refusal analysis reads them)
/// rendered in a chat template, the paper's few-shot judging prompts, or the lines of a text file; and the rendering of
/// each into tokens classed as template or content.
/// </summary>
public static class DiffCorpus
{
    public const string Harmful = "harmful", Harmless = "harmless", Judging = "judging", Text = "text";

    /// <summary>The first <paramref name="max"/> harmful and the first <paramref name="max"/> harmless instructions, as user messages.</summary>
    public static IReadOnlyList<CorpusText> Instructions(InstructionSet set, int max)
    {
        ArgumentNullException.ThrowIfNull(set);
        if (max < 1) Throw.Argument("must be at least 1", "maxInstructions", max);
        return set.Harmful.Take(max).Select(i => new CorpusText(Harmful, i, true))
            .Concat(set.Harmless.Take(max).Select(i => new CorpusText(Harmless, i, true))).ToList();
    }

    /// <summary>
    /// The paper's few-shot judging prompt (<see cref="JudgingAnswers"/>) for <paramref name="max"/> statements of a seeded
    /// shuffle of <paramref name="data"/> (examples left out), the example lines shuffled per prompt; plain text, as the paper prompts.
    /// </summary>
    public static IReadOnlyList<CorpusText> JudgingPrompts(StatementDataset data, IReadOnlyList<(string Statement, bool True)> examples, int max, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(examples);
        if (max < 1) Throw.Argument("must be at least 1", "maxJudging", max);
        if (examples.Count == 0) Throw.Argument("few-shot examples are needed", "examples", 0);
        var rng = new Random(seed);
        var lines = JudgingAnswers.ExampleLines(examples);
        var exampleTexts = examples.Select(e => e.Statement).ToHashSet(StringComparer.Ordinal);
        var statements = data.Statements.Where(s => !exampleTexts.Contains(s.Text)).ToArray();
        rng.Shuffle(statements);
        var result = new List<CorpusText>();
        foreach (var s in statements.Take(max))
        {
            rng.Shuffle(lines);
            result.Add(new CorpusText(Judging, string.Concat(lines) + JudgingAnswers.Query(s.Text), false));
        }
        if (result.Count == 0) Throw.Argument("no statement is left once the few-shot examples are set aside", "dataset", data.Name);
        return result;
    }

    /// <summary>The first <paramref name="max"/> non-empty lines of a UTF-8 text file, each one prompt of plain text.</summary>
    public static IReadOnlyList<CorpusText> TextFile(string path, int max)
    {
        if (!File.Exists(path)) Throw.InvalidFile("the text file does not exist", path);
        if (max < 1) Throw.Argument("must be at least 1", "maxText", max);
        var lines = File.ReadLines(path).Select(l => l.TrimEnd('\r')).Where(l => l.Trim().Length > 0).Take(max).ToList();
        if (lines.Count == 0) Throw.InvalidFile("the text file has no non-empty line", path);
        return lines.Select(l => new CorpusText(Text, l, false)).ToList();
    }

    /// <summary>
    /// Every text in tokens: chat texts rendered in <paramref name="template"/>, plain ones encoded with the tokenizer's
    /// special tokens; at most <paramref name="maxTokens"/> tokens each (the first ones).
    /// </summary>
    public static IReadOnlyList<CorpusPrompt> Render(IReadOnlyList<CorpusText> texts, HfTokenizer tokenizer, ChatTemplate template, int maxTokens)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(template);
        if (maxTokens < 2) Throw.Argument("must be at least 2", "maxTokens", maxTokens);
        var prompts = new List<CorpusPrompt>(texts.Count);
        foreach (var t in texts)
        {
            var (ids, classes) = t.Chat ? RenderChat(tokenizer, template, t.Text) : RenderPlain(tokenizer, t.Text);
            if (ids.Length == 0) Throw.Argument("the text encodes to no token", "corpus", t.Text);
            if (ids.Length > maxTokens) (ids, classes) = (ids[..maxTokens], classes[..maxTokens]);
            string text = t.Chat ? template.RenderUser(t.Text) : t.Text;
            prompts.Add(new CorpusPrompt(prompts.Count, t.Source, text, ids, classes));
        }
        return prompts;
    }

    /// <summary>Plain text: the tokens the tokenizer adds (BOS) are template tokens, the rest content.</summary>
    public static (int[] Ids, TokenClass[] Classes) RenderPlain(HfTokenizer tokenizer, string text)
    {
        var ids = tokenizer.Encode(text, addSpecialTokens: true);
        int added = Common(ids, tokenizer.Encode("", addSpecialTokens: true), fromEnd: false);
        return (ids, ids.Select((_, i) => i < added ? TokenClass.Template : TokenClass.Content).ToArray());
    }

    /// <summary>
    /// <paramref name="message"/> as one user turn with the generation prompt. Template tokens are those the template's own
    /// text gives: the rendering is split where the message lies (template text before, the message, template text after);
    /// the leading tokens the full encoding shares with the encoded text before, and the trailing ones it shares with the
    /// encoded text after, are template tokens; the rest, including a token that merges template text with the message,
    /// are content. When the template changes the message (strips it), the rendering of an empty message splits instead.
    /// </summary>
    public static (int[] Ids, TokenClass[] Classes) RenderChat(HfTokenizer tokenizer, ChatTemplate template, string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        string rendered = template.RenderUser(message);
        bool special = !template.IncludesBos;
        var ids = tokenizer.Encode(rendered, addSpecialTokens: special);
        int lead, trail;
        int at = message.Length == 0 ? -1 : rendered.LastIndexOf(message, StringComparison.Ordinal);
        if (at >= 0)
        {
            lead = Common(ids, tokenizer.Encode(rendered[..at], addSpecialTokens: special), fromEnd: false);
            trail = Common(ids, tokenizer.Encode(rendered[(at + message.Length)..], addSpecialTokens: false), fromEnd: true);
        }
        else
        {
            var empty = tokenizer.Encode(template.RenderUser(""), addSpecialTokens: special);
            lead = Common(ids, empty, fromEnd: false);
            trail = Common(ids, empty, fromEnd: true);
        }
        trail = Math.Min(trail, ids.Length - lead);
        var classes = new TokenClass[ids.Length];
        for (int i = 0; i < ids.Length; i++) classes[i] = i < lead || i >= ids.Length - trail ? TokenClass.Template : TokenClass.Content;
        return (ids, classes);
    }

    /// <summary>How many leading (or trailing) ids <paramref name="a"/> and <paramref name="b"/> share.</summary>
    static int Common(int[] a, int[] b, bool fromEnd)
    {
        int n = Math.Min(a.Length, b.Length), k = 0;
        while (k < n && (fromEnd ? a[^(k + 1)] == b[^(k + 1)] : a[k] == b[k])) k++;
        return k;
    }
}
