using System.Text.Json;
using System.Text.Json.Serialization;

namespace OnnxInterp.Checkpoints.Families;

/// <summary>A family in JSON is its name; reading resolves it through the registry, so an unknown name is a JSON error.</summary>
sealed class ModelFamilyJsonConverter : JsonConverter<ModelFamily>
{
    public override ModelFamily Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String) throw new JsonException("a model family is written as its name");
        var name = reader.GetString()!;
        return ModelFamilies.FindByName(name)
            ?? throw new JsonException($"unknown model family '{name}'; known: {string.Join(", ", ModelFamilies.All.Select(f => f.Name))}");
    }

    public override void Write(Utf8JsonWriter writer, ModelFamily value, JsonSerializerOptions options) => writer.WriteStringValue(value.Name);
}
