using System.Text.Json;

namespace OnnxInterp.Tokenization;

/// <summary>Typed reads from a tokenizer JSON file; every failure names the file, the JSON path and the value.</summary>
sealed class JsonReader(string file)
{
    public string File { get; } = file;

    public static JsonDocument Parse(string path)
    {
        string text;
        try { text = System.IO.File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidFileException($"Cannot read the tokenizer file: {e.Message}", path, null, null, e);
        }
        try
        {
            return JsonDocument.Parse(text, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip, MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw new InvalidFileException($"The file is not valid JSON: {e.Message}", path, e.Path, null, e);
        }
    }

    public static string Show(JsonElement e) => e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText();

    public InvalidFileException Invalid(string message, string field, JsonElement value) =>
        new(message, File, field, Show(value));

    public UnsupportedModelException Unsupported(string message, string field, string value) =>
        new(message, File, field, value);

    /// <summary>The property, or null when it is absent or JSON null.</summary>
    public static JsonElement? Opt(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public JsonElement Req(JsonElement obj, string name, string path)
    {
        if (obj.ValueKind != JsonValueKind.Object)
            throw Invalid("Expected a JSON object", path, obj);
        return Opt(obj, name) ?? throw new InvalidFileException("A required field is missing", File, Join(path, name), null);
    }

    public string ReqString(JsonElement obj, string name, string path)
    {
        var v = Req(obj, name, path);
        return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Invalid("Expected a string", Join(path, name), v);
    }

    public string? OptString(JsonElement obj, string name, string path)
    {
        var v = Opt(obj, name);
        if (v is null) return null;
        return v.Value.ValueKind == JsonValueKind.String ? v.Value.GetString() : throw Invalid("Expected a string", Join(path, name), v.Value);
    }

    /// <summary>A string that must be exactly one character (one Unicode scalar, as a Rust <c>char</c>), or null when absent.</summary>
    public string? OptChar(JsonElement obj, string name, string path)
    {
        var s = OptString(obj, name, path);
        if (s is not null && s.EnumerateRunes().Take(2).Count() != 1)
            throw Invalid("Expected exactly one character", Join(path, name), Opt(obj, name)!.Value);
        return s;
    }

    public bool? OptBool(JsonElement obj, string name, string path)
    {
        var v = Opt(obj, name);
        if (v is null) return null;
        return v.Value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Invalid("Expected true or false", Join(path, name), v.Value),
        };
    }

    public int ReqInt(JsonElement obj, string name, string path) => AsInt(Req(obj, name, path), Join(path, name));

    public int? OptInt(JsonElement obj, string name, string path)
    {
        var v = Opt(obj, name);
        return v is null ? null : AsInt(v.Value, Join(path, name));
    }

    public int AsInt(JsonElement v, string path) =>
        v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i : throw Invalid("Expected a 32-bit integer", path, v);

    public JsonElement ReqArray(JsonElement obj, string name, string path)
    {
        var v = Req(obj, name, path);
        return v.ValueKind == JsonValueKind.Array ? v : throw Invalid("Expected an array", Join(path, name), v);
    }

    /// <summary>The array, or null when it is absent or JSON null; any other kind is an error.</summary>
    public JsonElement? OptArray(JsonElement obj, string name, string path)
    {
        var v = Opt(obj, name);
        if (v is null) return null;
        return v.Value.ValueKind == JsonValueKind.Array ? v : throw Invalid("Expected an array", Join(path, name), v.Value);
    }

    public static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";
}
