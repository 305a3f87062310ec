using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace OnnxInterp.Reports;

/// <summary>
/// The JSON settings of the report files: <see cref="Strict"/> for results.json, the journal, config files and the
/// analyses' options and results.json sections (each serialised by System.Text.Json, once); <see cref="Files"/> for the
/// analyses' own JSON files (knowledge_DATASET.json, refusal.json, entropy.json, truth.json).
/// </summary>
public static class ResultsJson
{
    /// <summary>camelCase, enums as strings, NaN/Infinity as strings, unknown members rejected.</summary>
    public static readonly JsonSerializerOptions Strict = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        // Reflection, as the serializer's default; named so that GetTypeInfo can read a record's JSON contract (audit, verbs).
        TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver(),
    };

    /// <summary>camelCase, enums as strings, NaN/Infinity as strings (the analyses' own files, which nothing reads back).</summary>
    public static readonly JsonSerializerOptions Files = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>Any value as a JSON node with the <see cref="Strict"/> settings.</summary>
    public static JsonNode ToNode<T>(T value) => JsonSerializer.SerializeToNode(value, Strict)!;
}
