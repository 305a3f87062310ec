using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using OnnxInterp.Internals;
using OnnxInterp.Tokenization.Jinja;

namespace OnnxInterp.Tokenization;

/// <summary>
/// The chat template chosen for a model folder, with <see cref="Name"/> (a <see cref="ChatTemplates"/> name, or
/// "jinja:" and 8 hex digits of the template's SHA-256) and <see cref="Source"/>, which says how it was chosen:
/// "--template", "onnxinterp_chat_template", "chat_template: recognised as NAME", "chat_template: rendered from jinja"
/// or "no chat template: plain".
/// </summary>
public sealed record ResolvedChatTemplate(ChatTemplate Template, string Name, string Source);

/// <summary>
/// The chat template a model folder (a Hugging Face checkpoint or an export, which copies tokenizer_config.json)
/// declares. In order: a name the caller chose (<c>--template</c>); tokenizer_config.json's
/// <c>onnxinterp_chat_template</c>, a name <see cref="ChatTemplates.Get"/> knows; the model's own jinja
/// <c>chat_template</c> (chat_template.jinja beside it wins over the key, as in transformers), used as the named
/// template when it is one of the published texts we reproduce, else rendered by the jinja interpreter; and, for a
/// folder with neither (a base model), the <c>plain</c> User/Assistant template.
/// </summary>
public static partial class ModelChatTemplate
{
    public const string ConfigKey = "onnxinterp_chat_template";
    public const string JinjaKey = "chat_template";
    public const string JinjaFile = "chat_template.jinja";
    public const string Default = "plain";

    /// <summary>The <see cref="ResolvedChatTemplate.Source"/> of a template the caller chose.</summary>
    public const string OverrideSource = "--template";

    /// <summary>Chooses the folder's chat template; <paramref name="overrideName"/> (a known name) wins over the folder.</summary>
    /// <exception cref="InvalidArgumentException"><paramref name="overrideName"/> names no known template.</exception>
    /// <exception cref="InvalidFileException">tokenizer_config.json is not JSON, a key has the wrong type or names no known
    /// template, or the jinja chat_template does not parse or does not render [user "Hi"]: the message says how to choose
    /// a template with --template NAME.</exception>
    public static ResolvedChatTemplate Resolve(string folder, string? overrideName = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        if (overrideName is not null) return new(ChatTemplates.Get(overrideName), overrideName, OverrideSource);

        var configPath = Path.Combine(folder, "tokenizer_config.json");
        var jinjaPath = Path.Combine(folder, JinjaFile);
        using var doc = File.Exists(configPath) ? JsonReader.Parse(configPath) : null;
        var root = doc?.RootElement.ValueKind == JsonValueKind.Object ? doc.RootElement : (JsonElement?)null;
        if (root is { } r0 && JsonReader.Opt(r0, ConfigKey) is { } named)
        {
            if (named.ValueKind != JsonValueKind.String)
                Throw.InvalidFile("the chat template name must be a string", configPath, ConfigKey, named.GetRawText());
            var name = named.GetString()!;
            if (!ChatTemplates.Names.Contains(name))
                Throw.InvalidFile($"unknown chat template; known templates: {KnownNames}", configPath, ConfigKey, name);
            return new(ChatTemplates.Get(name), name, ConfigKey);
        }

        string? bos = root is { } r1 ? TokenText(r1, "bos_token", configPath) : null;
        string? eos = root is { } r2 ? TokenText(r2, "eos_token", configPath) : null;
        string? jinja = null, file = null;
        if (File.Exists(jinjaPath))
            (jinja, file) = (ReadText(jinjaPath), jinjaPath);
        else if (root is { } r3 && JsonReader.Opt(r3, JinjaKey) is { } value)
            (jinja, file) = (DefaultTemplate(value, configPath), configPath);
        if (jinja is null) return new(ChatTemplates.Get(Default), Default, "no chat template: plain");

        if (Recognise(jinja, bos, eos) is { } known) return new(ChatTemplates.Get(known), known, $"chat_template: recognised as {known}");
        string jinjaName = "jinja:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(jinja)))[..8];
        try
        {
            return new(ChatTemplate.FromJinja(jinjaName, jinja, bos, eos), jinjaName, "chat_template: rendered from jinja");
        }
        catch (JinjaException e)
        {
            string what = e.Kind == JinjaErrorKind.Syntax ? "does not parse" : "does not render the conversation [user \"Hi\"]";
            return Throw.InvalidFile<ResolvedChatTemplate>(
                $"the model's jinja chat template {what}: {e.Message}. Choose a template with --template NAME (known: {KnownNames})",
                file, JinjaKey, null, e);
        }
    }

    /// <summary>The template name the folder resolves to (<see cref="Resolve"/>): a known name, "jinja:...", or <see cref="Default"/>.</summary>
    /// <exception cref="InvalidFileException">As <see cref="Resolve"/>.</exception>
    public static string NameOf(string folder) => Resolve(folder).Name;

    /// <summary>The template the folder resolves to (<see cref="Resolve"/>).</summary>
    /// <exception cref="InvalidFileException">As <see cref="Resolve"/>.</exception>
    public static ChatTemplate Of(string folder) => Resolve(folder).Template;

    static string KnownNames => string.Join(", ", ChatTemplates.Names);

    static string ReadText(string path)
    {
        try { return File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Throw.InvalidFile<string>($"cannot read the chat template: {e.Message}", path, inner: e);
        }
    }

    /// <summary>bos_token / eos_token: a string, or an AddedToken object {"content": ...}; null when absent.</summary>
    static string? TokenText(JsonElement root, string key, string path)
    {
        if (JsonReader.Opt(root, key) is not { } v) return null;
        if (v.ValueKind == JsonValueKind.String) return v.GetString();
        if (v.ValueKind == JsonValueKind.Object && JsonReader.Opt(v, "content") is { ValueKind: JsonValueKind.String } content) return content.GetString();
        return Throw.InvalidFile<string?>("a special token must be a string or an object with a string \"content\"", path, key, v.GetRawText());
    }

    /// <summary>chat_template: a string, or a list of {"name", "template"} of which transformers uses "default".</summary>
    static string DefaultTemplate(JsonElement value, string path)
    {
        if (value.ValueKind == JsonValueKind.String) return value.GetString()!;
        if (value.ValueKind != JsonValueKind.Array)
            return Throw.InvalidFile<string>("chat_template must be a string or a list of {\"name\", \"template\"} objects", path, JinjaKey, value.GetRawText());
        var names = new List<string>();
        foreach (var entry in value.EnumerateArray())
        {
            if (JsonReader.Opt(entry, "name") is not { ValueKind: JsonValueKind.String } name || JsonReader.Opt(entry, "template") is not { ValueKind: JsonValueKind.String } template)
                return Throw.InvalidFile<string>("each chat_template entry must be an object with string \"name\" and \"template\"", path, JinjaKey, entry.GetRawText());
            if (name.GetString() == "default") return template.GetString()!;
            names.Add(name.GetString()!);
        }
        return Throw.InvalidFile<string>(
            $"chat_template lists named templates ({string.Join(", ", names)}) but none named \"default\"; choose a template with --template NAME (known: {KnownNames})",
            path, JinjaKey, null);
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    /// <summary>
    /// The text with all whitespace removed, so re-indenting or splitting tags over lines does not hide a published
    /// template; whitespace that matters (inside string literals) is caught by the rendering check in <see cref="Recognise"/>.
    /// </summary>
    static string Normalise(string jinja) => Whitespace().Replace(jinja, "");

    /// <summary>Conversations on which a recognised template must render exactly as the model's jinja does.</summary>
    static readonly (ChatMessage[] Messages, bool AddGenerationPrompt)[] s_checks =
    [
        (JinjaChatTemplate.Probe, true),
        (JinjaChatTemplate.Probe, false),
        ([new("system", "S"), new("user", "U")], true),
        ([new("user", "A"), new("assistant", "B"), new("user", "C")], true),
        ([new("user", "A"), new("assistant", "B")], false),
    ];

    /// <summary>
    /// The known template whose published text the jinja is (whitespace aside), provided our renderer also agrees with
    /// the jinja under this folder's bos/eos tokens (a published text with other tokens renders differently).
    /// </summary>
    static string? Recognise(string jinja, string? bos, string? eos)
    {
        string text = Normalise(jinja);
        var published = PublishedChatTemplates.All.FirstOrDefault(p => Normalise(p.Jinja) == text);
        if (published is null) return null;
        JinjaTemplate parsed;
        try { parsed = JinjaTemplate.Parse(jinja); }
        catch (JinjaException) { return null; }
        var named = ChatTemplates.Get(published.Name);
        foreach (var (messages, addGenerationPrompt) in s_checks)
        {
            string? ours = Attempt(() => named.Render(messages, addGenerationPrompt));
            string? theirs = Attempt(() => JinjaChatTemplate.Render(parsed, messages, addGenerationPrompt, bos, eos));
            if (ours != theirs) return null;
        }
        return published.Name;
    }

    static string? Attempt(Func<string> render)
    {
        try { return render(); }
        catch (OnnxInterpException) { return null; }
    }
}
