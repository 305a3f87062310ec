using OnnxInterp.Tokenization.Jinja;

namespace OnnxInterp.Tokenization;

/// <summary>
/// Builds a <see cref="ChatTemplate"/> from a Hugging Face jinja <c>chat_template</c>, rendered as transformers'
/// apply_chat_template renders it: variables <c>messages</c> (role and content of each message),
/// <c>add_generation_prompt</c>, <c>bos_token</c> and <c>eos_token</c> (absent when null), and <c>tools</c> and
/// <c>documents</c> as None, which is what transformers passes when the caller gives none.
/// </summary>
static class JinjaChatTemplate
{
    /// <summary>End-of-turn markers: any that the template text writes is a stop string, besides the eos token.</summary>
    static readonly string[] s_endOfTurnMarkers =
    [
        "<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end|>", "</s>", "<|end_of_text|>", "<|endoftext|>",
        "<end_of_turn>", "<|END_OF_TURN_TOKEN|>", "<｜end▁of▁sentence｜>",
    ];

    /// <summary>The conversation every jinja template must render before it is accepted.</summary>
    internal static readonly ChatMessage[] Probe = [new("user", "Hi")];

    public static ChatTemplate Create(string name, string source, string? bosToken, string? eosToken)
    {
        var jinja = JinjaTemplate.Parse(source);
        string probe = Render(jinja, Probe, addGenerationPrompt: true, bosToken, eosToken);
        bool includesBos = !string.IsNullOrEmpty(bosToken) && probe.StartsWith(bosToken, StringComparison.Ordinal);
        return new ChatTemplate(name, includesBos, StopStrings(source, eosToken), (messages, addGenerationPrompt) =>
        {
            try
            {
                return Render(jinja, messages, addGenerationPrompt, bosToken, eosToken);
            }
            catch (JinjaException e) when (e.Kind == JinjaErrorKind.Raised)
            {
                // raise_exception is the template refusing this conversation, as the hand-written templates refuse it.
                throw new InvalidArgumentException($"The {name} chat template refuses the conversation: {e.Reason}", "messages", null);
            }
        });
    }

    /// <exception cref="JinjaException">The template failed or refused the conversation.</exception>
    internal static string Render(JinjaTemplate jinja, IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, string? bosToken, string? eosToken)
    {
        var variables = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["messages"] = messages.Select(m => new Dictionary<string, object?> { ["role"] = m.Role, ["content"] = m.Content }).ToList(),
            ["add_generation_prompt"] = addGenerationPrompt,
            ["tools"] = null,
            ["documents"] = null,
        };
        if (bosToken is not null) variables["bos_token"] = bosToken;
        if (eosToken is not null) variables["eos_token"] = eosToken;
        return jinja.Render(variables);
    }

    static string[] StopStrings(string source, string? eosToken)
    {
        var stops = new List<string>();
        if (!string.IsNullOrEmpty(eosToken)) stops.Add(eosToken);
        foreach (var marker in s_endOfTurnMarkers)
            if (source.Contains(marker, StringComparison.Ordinal) && !stops.Contains(marker)) stops.Add(marker);
        return [.. stops];
    }
}
