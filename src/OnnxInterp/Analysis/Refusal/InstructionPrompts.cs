using OnnxInterp.Internals;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis.Refusal;

/// <summary>
/// One model's way of asking: each instruction rendered as a single user turn with the generation prompt in the
/// model's chat template (the plain User/Assistant one for a base model), then tokenized.
/// </summary>
public sealed class InstructionPrompts
{
    public InstructionPrompts(HfTokenizer tokenizer, ChatTemplate template, int fallbackPadTokenId = 0)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(template);
        Tokenizer = tokenizer;
        Template = template;
        PadTokenId = tokenizer.PadTokenId ?? fallbackPadTokenId;
        StopTokens = template.StopStrings.Select(tokenizer.TokenToId).OfType<int>().Concat(tokenizer.EosTokenIds).Distinct().ToList();
        PostInstructionTokens = CountPostInstructionTokens();
    }

    public HfTokenizer Tokenizer { get; }
    public ChatTemplate Template { get; }
    public int PadTokenId { get; }

    /// <summary>End-of-turn tokens (the template's stop strings that are single tokens) and the tokenizer's EOS.</summary>
    public IReadOnlyList<int> StopTokens { get; }

    /// <summary>
    /// How many tokens follow the instruction (Arditi et al.'s "post-instruction" / end-of-instruction tokens): the
    /// template's text after the instruction, tokenized; at least 1. Positions −PostInstructionTokens..−1 hold them.
    /// </summary>
    public int PostInstructionTokens { get; }

    public string Render(string instruction) => Template.RenderUser(instruction);

    public int[] Encode(string instruction) => Tokenizer.Encode(Render(instruction), addSpecialTokens: !Template.IncludesBos);

    public IReadOnlyList<int[]> Encode(IEnumerable<string> instructions) => instructions.Select(Encode).ToList();

    /// <summary>Decodes generated tokens (special tokens skipped) and cuts the text at the template's first stop string.</summary>
    public string Decode(IReadOnlyList<int> generated)
    {
        var text = Tokenizer.Decode(generated, skipSpecialTokens: true);
        foreach (var stop in Template.StopStrings)
        {
            int i = text.IndexOf(stop, StringComparison.Ordinal);
            if (i >= 0) text = text[..i];
        }
        return text;
    }

    int CountPostInstructionTokens()
    {
        const string probe = "Describe the weather today.";
        var rendered = Render(probe);
        int at = rendered.LastIndexOf(probe, StringComparison.Ordinal);
        if (at < 0) Throw.Argument("the chat template does not contain the instruction verbatim", "template", Template.Name);
        var suffix = Tokenizer.Encode(rendered[(at + probe.Length)..], addSpecialTokens: false);
        var full = Encode(probe);
        // Count only the tokens that the full prompt really ends with (a merge across the boundary would shorten it).
        int k = 0;
        while (k < suffix.Length && k < full.Length - 1 && suffix[^(k + 1)] == full[^(k + 1)]) k++;
        return Math.Max(1, k);
    }
}
