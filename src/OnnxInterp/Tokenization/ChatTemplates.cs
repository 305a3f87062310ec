namespace OnnxInterp.Tokenization;

/// <summary>
/// The chat templates OnnxInterp knows, by name. Each reproduces the Hugging Face jinja <c>chat_template</c>
/// published in the model's tokenizer_config.json (the strings are kept, with their sources, in PublishedChatTemplates,
/// and the goldens under tests/OnnxInterp.Tests/Goldens/chat hold them too). A model whose template is none of these
/// gets its own jinja rendered instead (<see cref="ModelChatTemplate.Resolve"/>, <see cref="ChatTemplate.FromJinja"/>).
/// <list type="bullet">
/// <item><c>llama2</c>: meta-llama/Llama-2-7b-chat-hf. Per user turn <c>&lt;s&gt;[INST] {content.strip()} [/INST]</c>, per
/// assistant turn <c> {content.strip()} &lt;/s&gt;</c>; a leading system message is folded into the first turn as
/// <c>&lt;&lt;SYS&gt;&gt;\n{system}\n&lt;&lt;/SYS&gt;&gt;\n\n</c>; roles must then alternate user/assistant; no generation prompt.</item>
/// <item><c>llama3</c>: meta-llama/Meta-Llama-3-8B-Instruct. BOS text, then per message
/// <c>&lt;|start_header_id|&gt;{role}&lt;|end_header_id|&gt;\n\n{content.strip()}&lt;|eot_id|&gt;</c>; generation prompt
/// <c>&lt;|start_header_id|&gt;assistant&lt;|end_header_id|&gt;\n\n</c>.</item>
/// <item><c>llama3.1</c>: meta-llama/Llama-3.1-8B-Instruct, without tools. BOS text and an always-present system block
/// "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" + the (stripped) system message, then the
/// llama3 turns. The date is the template's default for an absent <c>date_string</c>.</item>
/// <item><c>mistral</c>: mistralai/Mistral-7B-Instruct-v0.2 as first published: <c>&lt;s&gt;[INST] {user} [/INST]{assistant}&lt;/s&gt;...</c>;
/// roles must alternate user/assistant starting with user, so a system message is refused, as the template refuses it.</item>
/// <item><c>qwen2</c>: Qwen/Qwen2-7B-Instruct ChatML, with the system turn "You are a helpful assistant." when the
/// conversation does not open with a system message.</item>
/// <item><c>tulu</c>: allenai/Llama-3.1-Tulu-3-8B: <c>&lt;|user|&gt;\n{content}\n</c>, <c>&lt;|assistant|&gt;\n{content}&lt;|end_of_text|&gt;</c>
/// (plus "\n" unless it is the last message), generation prompt <c>&lt;|assistant|&gt;\n</c>; BOS is left to the tokenizer.</item>
/// <item><c>plain</c>: the base-model format "User: {instruction}\nAssistant:" (no published jinja). Each message is one
/// "Role: content" block (role capitalised: "User", "Assistant", "System", any other role as written; content verbatim),
/// blocks are joined by "\n", and the generation prompt is "\nAssistant:" with no trailing space; so
/// [user a, assistant b, user c] renders "User: a\nAssistant: b\nUser: c\nAssistant:". It stops at "\nUser:".</item>
/// </list>
/// </summary>
public static class ChatTemplates
{
    static readonly ChatTemplate[] s_all =
    [
        new("llama2", includesBos: true, [ChatTemplate.MistralEos], ChatTemplate.RenderLlama2),
        new("llama3", includesBos: true, ["<|eot_id|>", "<|end_of_text|>"], ChatTemplate.RenderLlama3),
        new("llama3.1", includesBos: true, ["<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"], ChatTemplate.RenderLlama31),
        new("mistral", includesBos: true, [ChatTemplate.MistralEos], ChatTemplate.RenderMistral),
        new("qwen2", includesBos: false, ["<|im_end|>", "<|endoftext|>"], ChatTemplate.RenderQwen2),
        new("tulu", includesBos: false, [ChatTemplate.TuluEos], ChatTemplate.RenderTulu),
        new("plain", includesBos: false, ["\nUser:"], ChatTemplate.RenderPlain),
    ];

    static readonly Dictionary<string, ChatTemplate> s_byName = s_all.ToDictionary(t => t.Name, StringComparer.Ordinal);

    /// <summary>The known template names, in a fixed order.</summary>
    public static IReadOnlyList<string> Names { get; } = Array.AsReadOnly(s_all.Select(t => t.Name).ToArray());

    /// <summary>The template called <paramref name="name"/> (exact, case-sensitive).</summary>
    /// <exception cref="InvalidArgumentException">No template has that name; the message lists the known names.</exception>
    public static ChatTemplate Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (s_byName.TryGetValue(name, out var template)) return template;
        throw new InvalidArgumentException($"Unknown chat template; known templates: {string.Join(", ", Names)}", "chatTemplate", name);
    }
}
