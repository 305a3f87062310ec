using System.Text.Json;

namespace OnnxInterp.Tokenization;

/// <summary>
/// The chat template a model folder (a Hugging Face checkpoint or an export, which copies tokenizer_config.json)
/// declares: tokenizer_config.json's <c>onnxinterp_chat_template</c>, a name <see cref="ChatTemplates.Get"/> knows.
/// A folder without the key (or without the file) is a base model and gets the <c>plain</c> User/Assistant template.
/// </summary>
public static class ModelChatTemplate
{
    public const string ConfigKey = "onnxinterp_chat_template";
    public const string Default = "plain";

    /// <summary>The template name the folder declares, or <see cref="Default"/>.</summary>
    /// <exception cref="InvalidFileException">tokenizer_config.json is not JSON, the key is not a string, or it names no known template.</exception>
    public static string NameOf(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        var path = Path.Combine(folder, "tokenizer_config.json");
        if (!File.Exists(path)) return Default;
        using var doc = JsonReader.Parse(path);
        if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty(ConfigKey, out var v) || v.ValueKind == JsonValueKind.Null)
            return Default;
        if (v.ValueKind != JsonValueKind.String)
            throw new InvalidFileException("the chat template name must be a string", path, ConfigKey, v.GetRawText());
        var name = v.GetString()!;
        if (!ChatTemplates.Names.Contains(name))
            throw new InvalidFileException($"unknown chat template; known templates: {string.Join(", ", ChatTemplates.Names)}", path, ConfigKey, name);
        return name;
    }

    /// <summary>The template the folder declares, or the plain one.</summary>
    public static ChatTemplate Of(string folder) => ChatTemplates.Get(NameOf(folder));
}
