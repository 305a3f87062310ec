using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;

namespace OnnxInterp.Comparison;

/// <summary>
/// An address of values in results.json: dot-separated keys, each optionally followed by selectors in brackets.
/// <c>*</c> as a key matches every key; <c>[3]</c> picks an array element; <c>[*]</c> every element;
/// <c>[a=base,b=instruct]</c> the elements whose fields equal those values.
/// Example: <c>knowledge.cities.comparisons[a=base,b=instruct].corr</c>, <c>knowledge.*.comparisons[a=base].corr</c>.
/// </summary>
public sealed class MetricPath
{
    abstract record Step;
    sealed record Key(string Name) : Step;
    sealed record AnyKey : Step;
    sealed record Index(int I) : Step;
    sealed record AnyIndex : Step;
    sealed record Where(IReadOnlyList<(string Field, string Value)> Conditions, string Text) : Step;

    readonly List<Step> _steps;

    MetricPath(string text, List<Step> steps)
    {
        Text = text;
        _steps = steps;
    }

    public string Text { get; }

    /// <summary>The first key (the analysis a metric belongs to), or null when the path starts with *.</summary>
    public string? Root => _steps.FirstOrDefault() is Key k ? k.Name : null;

    public override string ToString() => Text;

    public static MetricPath Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new InvalidArgumentException("a metric path is empty", "metric", text);
        var steps = new List<Step>();
        int i = 0;
        while (i < text.Length)
        {
            int start = i;
            while (i < text.Length && text[i] is not ('.' or '[' or ']')) i++;
            var name = text[start..i];
            if (name.Length == 0 && (i >= text.Length || text[i] != '[' || steps.Count == 0))
                throw new InvalidArgumentException($"empty key at character {start + 1}", "metric", text);
            if (name == "*") steps.Add(new AnyKey());
            else if (name.Length > 0) steps.Add(new Key(name));
            while (i < text.Length && text[i] == '[')
            {
                int close = text.IndexOf(']', i);
                if (close < 0) throw new InvalidArgumentException($"'[' at character {i + 1} is not closed", "metric", text);
                steps.Add(Selector(text[(i + 1)..close], text));
                i = close + 1;
            }
            if (i < text.Length)
            {
                if (text[i] != '.') throw new InvalidArgumentException($"unexpected '{text[i]}' at character {i + 1}", "metric", text);
                i++;
                if (i == text.Length) throw new InvalidArgumentException("the path ends with '.'", "metric", text);
            }
        }
        return new MetricPath(text, steps);
    }

    static Step Selector(string body, string text)
    {
        if (body == "*") return new AnyIndex();
        if (int.TryParse(body, NumberStyles.None, CultureInfo.InvariantCulture, out int index)) return new Index(index);
        var conditions = new List<(string, string)>();
        foreach (var c in body.Split(','))
        {
            int eq = c.IndexOf('=');
            if (eq <= 0) throw new InvalidArgumentException($"selector [{body}] must be an index, * or field=value pairs separated by commas", "metric", text);
            conditions.Add((c[..eq].Trim(), c[(eq + 1)..].Trim()));
        }
        return new Where(conditions, $"[{body}]");
    }

    /// <summary>Every value the path reaches, with the concrete path to each; <paramref name="missing"/> says where the walk stopped when none.</summary>
    public IReadOnlyList<(string Path, JsonNode? Value)> Resolve(JsonNode? root, out string? missing)
    {
        var current = new List<(string Path, JsonNode? Node)> { ("", root) };
        missing = null;
        foreach (var step in _steps)
        {
            var next = new List<(string, JsonNode?)>();
            foreach (var (path, node) in current)
            {
                switch (step)
                {
                    case Key k when node is JsonObject o:
                        if (o.TryGetPropertyValue(k.Name, out var v)) next.Add((Join(path, k.Name), v));
                        else missing ??= $"'{(path.Length == 0 ? "(top level)" : path)}' has no key '{k.Name}'; it has: {Keys(o)}";
                        break;
                    case AnyKey when node is JsonObject o:
                        foreach (var (name, v2) in o) next.Add((Join(path, name), v2));
                        break;
                    case Index ix when node is JsonArray a:
                        if (ix.I < a.Count) next.Add(($"{path}[{ix.I}]", a[ix.I]));
                        else missing ??= $"'{path}' has {a.Count} elements, no [{ix.I}]";
                        break;
                    case AnyIndex when node is JsonArray a:
                        for (int j = 0; j < a.Count; j++) next.Add(($"{path}[{j}]", a[j]));
                        break;
                    case Where w when node is JsonArray a:
                        int before = next.Count;
                        foreach (var e in a)
                            if (e is JsonObject eo && w.Conditions.All(c => eo.TryGetPropertyValue(c.Field, out var f) && AsText(f) == c.Value))
                                next.Add((path + w.Text, e));
                        if (next.Count == before) missing ??= $"no element of '{path}' matches {w.Text}";
                        break;
                    default:
                        missing ??= $"'{(path.Length == 0 ? "(top level)" : path)}' is {Kind(node)}, which {Describe(step)} cannot select from";
                        break;
                }
            }
            current = next;
        }
        if (current.Count > 0) missing = null;
        return current;
    }

    /// <summary>
    /// Checks the path against the record its analysis's section is serialised from (<paramref name="section"/>, with
    /// <paramref name="options"/>), before any results exist: every key a field of the record at that point, every
    /// selector on a list and its fields fields of the list's elements, and the end a number. With
    /// <paramref name="perDataset"/> the section is held once per dataset, so the key after the analysis names one (or is *).
    /// Returns why the path cannot reach a number, or null when it can.
    /// </summary>
    public string? Check(Type section, bool perDataset, JsonSerializerOptions options)
    {
        var rest = _steps.Skip(1).ToList();
        string at = Root ?? "*";
        if (perDataset)
        {
            if (rest.Count == 0 || rest[0] is not (Key or AnyKey))
                return $"'{at}' holds one section per dataset: name the dataset (or *) after '{at}.'";
            at = Join(at, rest[0] is Key k ? k.Name : "*");
            rest.RemoveAt(0);
        }
        var type = section;
        foreach (var step in rest)
        {
            var info = options.GetTypeInfo(Nullable.GetUnderlyingType(type) ?? type);
            switch (step)
            {
                case Key k when info.Kind == JsonTypeInfoKind.Object:
                    var field = info.Properties.FirstOrDefault(p => p.Name == k.Name);
                    if (field is null) return $"'{at}' has no field '{k.Name}'; it has: {string.Join(", ", info.Properties.Select(p => p.Name))}";
                    type = field.PropertyType;
                    at = Join(at, k.Name);
                    break;
                case Key or AnyKey when info.Kind == JsonTypeInfoKind.Dictionary:
                    type = info.ElementType!;
                    at = Join(at, step is Key dk ? dk.Name : "*");
                    break;
                case AnyKey when info.Kind == JsonTypeInfoKind.Object:
                    return null; // every field: what may follow depends on the field
                case Index or AnyIndex or Where when info.Kind == JsonTypeInfoKind.Enumerable:
                    var element = options.GetTypeInfo(info.ElementType!);
                    if (step is Where w && element.Kind == JsonTypeInfoKind.Object
                        && w.Conditions.Select(c => c.Field).FirstOrDefault(f => element.Properties.All(p => p.Name != f)) is { } unknown)
                        return $"the elements of '{at}' have no field '{unknown}'; they have: {string.Join(", ", element.Properties.Select(p => p.Name))}";
                    type = info.ElementType!;
                    at += Describe(step);
                    break;
                default:
                    return $"'{at}' is {KindOf(info)}, which {Describe(step)} cannot select from";
            }
        }
        var end = Nullable.GetUnderlyingType(type) ?? type;
        return IsNumber(end) ? null : $"'{at}' is {KindOf(options.GetTypeInfo(end))}, not a number";
    }

    static bool IsNumber(Type t) => !t.IsEnum && Type.GetTypeCode(t) is >= TypeCode.SByte and <= TypeCode.Decimal;

    static string KindOf(JsonTypeInfo info) => info.Kind switch
    {
        JsonTypeInfoKind.Object or JsonTypeInfoKind.Dictionary => "an object",
        JsonTypeInfoKind.Enumerable => "a list",
        _ when IsNumber(Nullable.GetUnderlyingType(info.Type) ?? info.Type) => "a number",
        _ when info.Type == typeof(bool) || info.Type == typeof(bool?) => "true or false",
        _ => "a string",
    };

    static string Join(string path, string key) => path.Length == 0 ? key : $"{path}.{key}";

    static string Keys(JsonObject o)
    {
        var sb = new StringBuilder();
        foreach (var (k, _) in o.Take(20)) sb.Append(sb.Length == 0 ? "" : ", ").Append(k);
        if (o.Count > 20) sb.Append(", …");
        return sb.ToString();
    }

    static string AsText(JsonNode? n) => n is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : n?.ToJsonString() ?? "null";

    static string Kind(JsonNode? n) => n switch
    {
        null => "null",
        JsonObject => "an object",
        JsonArray => "an array",
        _ => "a value",
    };

    static string Describe(Step s) => s switch
    {
        Key k => $"key '{k.Name}'",
        AnyKey => "*",
        Index i => $"[{i.I}]",
        AnyIndex => "[*]",
        Where w => w.Text,
        _ => "?",
    };
}
