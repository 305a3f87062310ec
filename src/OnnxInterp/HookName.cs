using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace OnnxInterp;

/// <summary>Where in a block a hook sits, in TransformerLens' vocabulary.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<HookKind>))]
public enum HookKind
{
    /// <summary>The block's input: <c>blocks.{l}.hook_resid_pre</c>.</summary>
    ResidPre,

    /// <summary>After the attention residual add: <c>blocks.{l}.hook_resid_mid</c>.</summary>
    ResidMid,

    /// <summary>The block's output: <c>blocks.{l}.hook_resid_post</c>.</summary>
    ResidPost,

    /// <summary>The MLP activation entering down_proj, silu(gate) * up: <c>blocks.{l}.mlp.hook_post</c>.</summary>
    MlpPost,
}

/// <summary>
/// The address of one activation: a hook kind at a layer. The exporter names graph outputs and injection inputs
/// with it, the manifest lists it, a forward result's cache and an intervention are keyed by it, and analyses build
/// it from a kind and a layer. Its text form is TransformerLens' (<c>blocks.3.hook_resid_post</c>,
/// <c>blocks.3.mlp.hook_post</c>), which is what JSON files, the CLI and graph I/O names carry.
/// No exported hook is per attention head, so a name has no head; a per-head kind would add one.
/// </summary>
/// <remarks>
/// A string converts implicitly (so <c>cache["blocks.3.hook_resid_post"]</c> reads as in TransformerLens); text that
/// is not a hook name throws <see cref="InvalidArgumentException"/> naming it. Names order as the graph computes them:
/// by layer, then resid_pre, resid_mid, mlp.hook_post, resid_post.
/// </remarks>
[JsonConverter(typeof(HookNameJsonConverter))]
public readonly record struct HookName : IComparable<HookName>, IParsable<HookName>
{
    public HookName(HookKind kind, int layer)
    {
        if (!Enum.IsDefined(kind)) throw new InvalidArgumentException("unknown hook kind", "kind", kind.ToString());
        if (layer < 0) throw new InvalidArgumentException("a layer is not negative", "layer", layer.ToString());
        Kind = kind;
        Layer = layer;
    }

    public HookKind Kind { get; }
    public int Layer { get; }

    public static HookName ResidPre(int layer) => new(HookKind.ResidPre, layer);
    public static HookName ResidMid(int layer) => new(HookKind.ResidMid, layer);
    public static HookName ResidPost(int layer) => new(HookKind.ResidPost, layer);
    public static HookName MlpPost(int layer) => new(HookKind.MlpPost, layer);

    /// <summary>True for the residual-stream hooks (everything but the MLP activation).</summary>
    public bool IsResidual => Kind != HookKind.MlpPost;

    /// <summary>The part after <c>blocks.{l}.</c>: <c>hook_resid_post</c>, <c>mlp.hook_post</c>.</summary>
    public string Suffix => SuffixOf(Kind);

    public static string SuffixOf(HookKind kind) => kind switch
    {
        HookKind.ResidPre => "hook_resid_pre",
        HookKind.ResidMid => "hook_resid_mid",
        HookKind.ResidPost => "hook_resid_post",
        HookKind.MlpPost => "mlp.hook_post",
        _ => throw new InvalidArgumentException("unknown hook kind", "kind", kind.ToString()),
    };

    /// <summary>The TransformerLens text: <c>blocks.{layer}.{suffix}</c>.</summary>
    public override string ToString() => $"blocks.{Layer}.{Suffix}";

    public static implicit operator HookName(string text) => Parse(text);

    public static HookName Parse(string text) => Parse(text, null);

    public static HookName Parse(string s, IFormatProvider? provider) =>
        TryParse(s, provider, out var name) ? name
        : throw new InvalidArgumentException("not a hook name; expected blocks.{layer}.hook_resid_pre|hook_resid_mid|hook_resid_post|mlp.hook_post", "hook", s);

    public static bool TryParse([NotNullWhen(true)] string? s, out HookName result) => TryParse(s, null, out result);

    public static bool TryParse([NotNullWhen(true)] string? s, IFormatProvider? provider, out HookName result)
    {
        result = default;
        if (s is null || !s.StartsWith("blocks.", StringComparison.Ordinal)) return false;
        int dot = s.IndexOf('.', 7);
        if (dot < 0) return false;
        var digits = s.AsSpan(7, dot - 7);
        // Canonical digits only ("03" or "+3" would name the same layer twice).
        if (digits.Length == 0 || digits.Length > 9 || (digits.Length > 1 && digits[0] == '0')) return false;
        foreach (var c in digits) if (c is < '0' or > '9') return false;
        int layer = int.Parse(digits, System.Globalization.CultureInfo.InvariantCulture);
        HookKind? kind = s.AsSpan(dot + 1) switch
        {
            "hook_resid_pre" => HookKind.ResidPre,
            "hook_resid_mid" => HookKind.ResidMid,
            "hook_resid_post" => HookKind.ResidPost,
            "mlp.hook_post" => HookKind.MlpPost,
            _ => null,
        };
        if (kind is null) return false;
        result = new HookName(kind.Value, layer);
        return true;
    }

    static int Order(HookKind kind) => kind switch
    {
        HookKind.ResidPre => 0,
        HookKind.ResidMid => 1,
        HookKind.MlpPost => 2,
        _ => 3,
    };

    public int CompareTo(HookName other) =>
        Layer != other.Layer ? Layer.CompareTo(other.Layer) : Order(Kind).CompareTo(Order(other.Kind));

    public static bool operator <(HookName a, HookName b) => a.CompareTo(b) < 0;
    public static bool operator >(HookName a, HookName b) => a.CompareTo(b) > 0;
    public static bool operator <=(HookName a, HookName b) => a.CompareTo(b) <= 0;
    public static bool operator >=(HookName a, HookName b) => a.CompareTo(b) >= 0;
}

/// <summary>
/// Which hooks to capture: one name, or a glob over names (<c>*</c> and <c>?</c>, e.g. <c>blocks.*.hook_resid_post</c>),
/// as TransformerLens' names_filter. Strings and <see cref="HookName"/>s convert implicitly.
/// </summary>
public readonly struct HookPattern : IEquatable<HookPattern>
{
    // A glob's regex is built once per pattern, not once per hook it is matched against.
    readonly System.Text.RegularExpressions.Regex? _glob;

    public HookPattern(string text)
    {
        Text = text;
        _glob = text.Contains('*') || text.Contains('?') ? ToRegex(text) : null;
    }

    public string Text { get; }

    public static implicit operator HookPattern(string text) => new(text);
    public static implicit operator HookPattern(HookName name) => new(name.ToString());

    public bool IsGlob => _glob is not null;

    public bool Matches(HookName name) => Matches(name.ToString());

    public bool Matches(string name) => Text == name || _glob is { } g && g.IsMatch(name);

    static System.Text.RegularExpressions.Regex ToRegex(string glob) =>
        new("^" + System.Text.RegularExpressions.Regex.Escape(glob).Replace(@"\*", ".*").Replace(@"\?", ".") + "$",
            System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    public bool Equals(HookPattern other) => Text == other.Text;
    public override bool Equals(object? obj) => obj is HookPattern p && Equals(p);
    public override int GetHashCode() => Text?.GetHashCode(StringComparison.Ordinal) ?? 0;
    public static bool operator ==(HookPattern a, HookPattern b) => a.Equals(b);
    public static bool operator !=(HookPattern a, HookPattern b) => !a.Equals(b);

    public override string ToString() => Text;
}

/// <summary>Writes a <see cref="HookName"/> as its text; reading text that is not a hook name is a <see cref="JsonException"/>.</summary>
public sealed class HookNameJsonConverter : JsonConverter<HookName>
{
    public override HookName Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String && HookName.TryParse(reader.GetString(), out var name) ? name
        : throw new JsonException($"not a hook name: {(reader.TokenType == JsonTokenType.String ? reader.GetString() : reader.TokenType.ToString())}");

    public override void Write(Utf8JsonWriter writer, HookName value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());

    public override HookName ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        HookName.TryParse(reader.GetString(), out var name) ? name : throw new JsonException($"not a hook name: {reader.GetString()}");

    public override void WriteAsPropertyName(Utf8JsonWriter writer, HookName value, JsonSerializerOptions options) => writer.WritePropertyName(value.ToString());
}
