using System.Text;
using OnnxInterp.Tokenization.Jinja;

namespace OnnxInterp.Tokenization;

/// <summary>One turn of a conversation: <paramref name="Role"/> is "system", "user" or "assistant" (some templates accept others).</summary>
public sealed record ChatMessage(string Role, string Content);

/// <summary>
/// A model's chat template: turns a conversation into the prompt string the post-trained model was trained on.
/// The named templates (<see cref="ChatTemplates"/>) reproduce published Hugging Face jinja <c>chat_template</c>s exactly;
/// tests compare each with renderings made by @huggingface/jinja (tools/goldens/chat-template-goldens.mjs) and Python's
/// jinja2 (tools/goldens/jinja2-goldens.py). <see cref="FromJinja"/> renders any other model's own jinja template.
/// </summary>
public sealed class ChatTemplate
{
    readonly Func<IReadOnlyList<ChatMessage>, bool, string> _render;

    internal ChatTemplate(string name, bool includesBos, IReadOnlyList<string> stopStrings, Func<IReadOnlyList<ChatMessage>, bool, string> render)
    {
        Name = name;
        IncludesBos = includesBos;
        StopStrings = stopStrings;
        _render = render;
    }

    /// <summary>
    /// A template that renders a Hugging Face jinja <c>chat_template</c> with OnnxInterp's jinja interpreter, as
    /// transformers' apply_chat_template does: <c>messages</c> (role, content), <c>add_generation_prompt</c>,
    /// <c>bos_token</c> and <c>eos_token</c> (left undefined when null), <c>tools</c> and <c>documents</c> None.
    /// The template must render the probe conversation [user "Hi"] with the generation prompt;
    /// <see cref="IncludesBos"/> is whether that rendering starts with <paramref name="bosToken"/>, and
    /// <see cref="StopStrings"/> are <paramref name="eosToken"/> plus the known end-of-turn markers the template text
    /// writes (&lt;|eot_id|&gt;, &lt;|im_end|&gt;, &lt;|end|&gt;, &lt;/s&gt;, &lt;|end_of_text|&gt;...).
    /// Rendering a conversation the template refuses (raise_exception) throws <see cref="InvalidArgumentException"/>.
    /// </summary>
    /// <exception cref="JinjaException">The source does not parse, or the probe conversation does not render.</exception>
    public static ChatTemplate FromJinja(string name, string source, string? bosToken, string? eosToken)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(source);
        return JinjaChatTemplate.Create(name, source, bosToken, eosToken);
    }

    /// <summary>The name <see cref="ChatTemplates.Get"/> knows this template by, or "jinja:..." for <see cref="FromJinja"/> templates.</summary>
    public string Name { get; }

    /// <summary>
    /// True when the rendered string already begins with the BOS token as text (Llama-3, Llama-3.1, Mistral):
    /// encode it with <c>HfTokenizer.Encode(text, addSpecialTokens: false)</c> so BOS is not doubled.
    /// False when the template leaves BOS to the tokenizer: encode with <c>addSpecialTokens: true</c>.
    /// </summary>
    public bool IncludesBos { get; }

    /// <summary>The end-of-turn markers the model emits when its answer is complete; generation stops at the first one.</summary>
    public IReadOnlyList<string> StopStrings { get; }

    /// <summary>
    /// Renders <paramref name="messages"/> as the published template does. With <paramref name="addGenerationPrompt"/>
    /// the assistant header that opens the model's reply is appended (templates that have none, such as Mistral's, ignore it).
    /// </summary>
    /// <exception cref="InvalidArgumentException">The conversation is empty, a message is null, or the template refuses it (roles out of order, an unsupported role).</exception>
    /// <exception cref="UnsupportedModelException">The message uses a template feature this port does not reproduce (Llama-3.1 tool and ipython roles).</exception>
    /// <exception cref="JinjaException">A <see cref="FromJinja"/> template failed on this conversation (other than by refusing it).</exception>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0)
            throw new InvalidArgumentException("A conversation needs at least one message", nameof(messages), "0");
        for (int i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            if (m is null || m.Role is null || m.Content is null)
                throw new InvalidArgumentException("A message, its role or its content is null", $"{nameof(messages)}[{i}]", null);
        }
        return _render(messages, addGenerationPrompt);
    }

    /// <summary>One user turn with the generation prompt: the prompt for a single instruction.</summary>
    public string RenderUser(string instruction)
    {
        ArgumentNullException.ThrowIfNull(instruction);
        return Render([new ChatMessage("user", instruction)], addGenerationPrompt: true);
    }

    public override string ToString() => Name;

    // ---- The templates. Each method mirrors its jinja source line by line; the jinja is quoted in ChatTemplates. ----

    internal const string Llama3Bos = "<|begin_of_text|>";

    internal static string RenderLlama3(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < messages.Count; i++)
        {
            if (i == 0) sb.Append(Llama3Bos);
            sb.Append("<|start_header_id|>").Append(messages[i].Role).Append("<|end_header_id|>\n\n")
              .Append(PyStrip(messages[i].Content)).Append("<|eot_id|>");
        }
        if (addGenerationPrompt) sb.Append("<|start_header_id|>assistant<|end_header_id|>\n\n");
        return sb.ToString();
    }

    /// <summary>The date the Llama-3.1 template writes when the caller passes no <c>date_string</c>.</summary>
    internal const string Llama31DefaultDate = "26 Jul 2024";

    internal static string RenderLlama31(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        var sb = new StringBuilder(Llama3Bos);
        int start = 0;
        string systemMessage = "";
        if (messages[0].Role == "system")
        {
            systemMessage = PyStrip(messages[0].Content);
            start = 1;
        }
        // No tools and no builtin_tools: the "Environment: ipython" line and the tool blocks are never written.
        sb.Append("<|start_header_id|>system<|end_header_id|>\n\n")
          .Append("Cutting Knowledge Date: December 2023\n")
          .Append("Today Date: ").Append(Llama31DefaultDate).Append("\n\n")
          .Append(systemMessage)
          .Append("<|eot_id|>");
        for (int i = start; i < messages.Count; i++)
        {
            var m = messages[i];
            if (m.Role is "ipython" or "tool")
                throw new UnsupportedModelException("The llama3.1 chat template's tool and ipython messages are not reproduced", field: $"messages[{i}].role", value: m.Role);
            sb.Append("<|start_header_id|>").Append(m.Role).Append("<|end_header_id|>\n\n")
              .Append(PyStrip(m.Content)).Append("<|eot_id|>");
        }
        if (addGenerationPrompt) sb.Append("<|start_header_id|>assistant<|end_header_id|>\n\n");
        return sb.ToString();
    }

    internal const string MistralBos = "<s>", MistralEos = "</s>";

    internal static string RenderLlama2(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        _ = addGenerationPrompt; // no generation prompt: "[/INST]" hands the turn over
        int start = 0;
        string? systemMessage = null; // the template's "false"
        if (messages[0].Role == "system")
        {
            systemMessage = messages[0].Content;
            start = 1;
        }
        var sb = new StringBuilder();
        for (int i = start; i < messages.Count; i++)
        {
            var m = messages[i];
            int index0 = i - start;
            if ((m.Role == "user") != (index0 % 2 == 0))
                throw new InvalidArgumentException("Conversation roles must alternate user/assistant/user/assistant/...", $"messages[{i}].role", m.Role);
            string content = index0 == 0 && systemMessage is not null
                ? "<<SYS>>\n" + systemMessage + "\n<</SYS>>\n\n" + m.Content
                : m.Content;
            if (m.Role == "user") sb.Append(MistralBos).Append("[INST] ").Append(PyStrip(content)).Append(" [/INST]");
            else if (m.Role == "assistant") sb.Append(' ').Append(PyStrip(content)).Append(' ').Append(MistralEos);
            // any other role at an odd position writes nothing, as the template does
        }
        return sb.ToString();
    }

    internal static string RenderMistral(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        _ = addGenerationPrompt; // the template has no generation prompt: "[/INST]" already hands the turn over
        var sb = new StringBuilder(MistralBos);
        for (int i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            if ((m.Role == "user") != (i % 2 == 0))
                throw new InvalidArgumentException("Conversation roles must alternate user/assistant/user/assistant/...", $"messages[{i}].role", m.Role);
            if (m.Role == "user")
                sb.Append("[INST] ").Append(m.Content).Append(" [/INST]");
            else if (m.Role == "assistant")
                sb.Append(m.Content).Append(MistralEos);
            else
                throw new InvalidArgumentException("Only user and assistant roles are supported!", $"messages[{i}].role", m.Role);
        }
        return sb.ToString();
    }

    internal const string QwenDefaultSystem = "You are a helpful assistant.";

    internal static string RenderQwen2(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < messages.Count; i++)
        {
            if (i == 0 && messages[0].Role != "system")
                sb.Append("<|im_start|>system\n").Append(QwenDefaultSystem).Append("<|im_end|>\n");
            sb.Append("<|im_start|>").Append(messages[i].Role).Append('\n').Append(messages[i].Content).Append("<|im_end|>\n");
        }
        if (addGenerationPrompt) sb.Append("<|im_start|>assistant\n");
        return sb.ToString();
    }

    /// <summary>Tulu 3 (Llama-3.1 base) eos_token, written after every assistant turn.</summary>
    internal const string TuluEos = "<|end_of_text|>";

    internal static string RenderTulu(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            bool last = i == messages.Count - 1;
            switch (m.Role)
            {
                case "system": sb.Append("<|system|>\n").Append(m.Content).Append('\n'); break;
                case "user": sb.Append("<|user|>\n").Append(m.Content).Append('\n'); break;
                case "assistant":
                    sb.Append("<|assistant|>\n").Append(m.Content).Append(TuluEos);
                    if (!last) sb.Append('\n');
                    break;
                default: break; // the template writes nothing for other roles
            }
            if (last && addGenerationPrompt) sb.Append("<|assistant|>\n");
        }
        return sb.ToString();
    }

    /// <summary>
    /// The base-model prompt format (no published jinja: HZD01/post-training-mechanistic-analysis's
    /// LLAMA3_BASE_TEMPLATE "User: {instruction}\nAssistant:"). Every message is one "Role: content" block, the
    /// role capitalised ("User", "Assistant", "System"; any other role as written), content verbatim; blocks are
    /// joined by "\n"; the generation prompt is "\nAssistant:" (no trailing space). So
    /// [user a, assistant b, user c] renders "User: a\nAssistant: b\nUser: c\nAssistant:".
    /// </summary>
    internal static string RenderPlain(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < messages.Count; i++)
        {
            if (i > 0) sb.Append('\n');
            sb.Append(PlainRole(messages[i].Role)).Append(": ").Append(messages[i].Content);
        }
        if (addGenerationPrompt) sb.Append("\nAssistant:");
        return sb.ToString();
    }

    static string PlainRole(string role) => role switch
    {
        "user" => "User",
        "assistant" => "Assistant",
        "system" => "System",
        _ => role,
    };

    /// <summary>
    /// Python's <c>str.strip()</c>, which jinja's <c>trim</c> filter calls: removes the characters Python counts as
    /// whitespace (.NET's <see cref="char.IsWhiteSpace(char)"/> plus U+001C..U+001F) from both ends.
    /// </summary>
    internal static string PyStrip(string s)
    {
        int start = 0, end = s.Length;
        while (start < end && IsPyWhiteSpace(s[start])) start++;
        while (end > start && IsPyWhiteSpace(s[end - 1])) end--;
        return s[start..end];
    }

    static bool IsPyWhiteSpace(char c) => char.IsWhiteSpace(c) || c is >= '\u001c' and <= '\u001f';
}
