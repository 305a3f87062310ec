using System.Collections;
using System.Text;
using System.Text.Json;

namespace OnnxInterp.Tokenization.Jinja;

/// <summary>
/// A jinja template as Hugging Face transformers renders chat templates: jinja2 3.1 in an ImmutableSandboxedEnvironment
/// with trim_blocks and lstrip_blocks, the loopcontrols extension, raise_exception, strftime_now and a tojson filter
/// that is Python's json.dumps. The subset covers the published chat templates; what it lacks (template inheritance,
/// include/import, call blocks, recursive loops, a few filters) fails with a <see cref="JinjaException"/> rather than
/// rendering differently. Immutable and thread-safe once parsed.
/// </summary>
public sealed class JinjaTemplate
{
    readonly IReadOnlyList<Node> _body;

    JinjaTemplate(string source, IReadOnlyList<Node> body)
    {
        Source = source;
        _body = body;
    }

    /// <summary>The source the template was parsed from.</summary>
    public string Source { get; }

    /// <summary>Parses <paramref name="source"/>.</summary>
    /// <exception cref="JinjaException">A syntax error, or a tag, filter or test this interpreter does not have (outside an if).</exception>
    public static JinjaTemplate Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new JinjaTemplate(source, Parser.Parse(source));
    }

    /// <summary>
    /// Renders with <paramref name="variables"/>: strings, booleans, integers, floating-point numbers, null (None),
    /// lists (any non-string <see cref="IEnumerable"/>), dictionaries with string keys, and <see cref="JsonElement"/>s.
    /// A variable not given is jinja's Undefined.
    /// </summary>
    /// <exception cref="JinjaException">The template failed, or called raise_exception (<see cref="JinjaErrorKind.Raised"/>).</exception>
    /// <exception cref="ArgumentException">A variable has a type with no template equivalent.</exception>
    public string Render(IReadOnlyDictionary<string, object?> variables) => Render(variables, () => DateTime.Now);

    internal string Render(IReadOnlyDictionary<string, object?> variables, Func<DateTime> now)
    {
        ArgumentNullException.ThrowIfNull(variables);
        var globals = new Scope(null);
        foreach (var (name, value) in Globals.All(now)) globals.Set(name, value);
        var scope = new Scope(globals);
        foreach (var (name, value) in variables) scope.Set(name, FromClr(value, name));
        var output = new StringBuilder();
        new Renderer().Render(_body, scope, output);
        return output.ToString();
    }

    /// <summary>Converts a .NET value to the Python-like value the renderer works on.</summary>
    internal static object? FromClr(object? value, string path) => value switch
    {
        null or string or bool or long or double => value,
        int or short or sbyte or byte or ushort or uint => Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture),
        float f => (double)f,
        decimal m => (double)m,
        JsonElement json => FromJson(json, path),
        Undefined or JinjaDict or Namespace or Callable => value,
        IDictionary<string, object?> d => ToDict(d, path),
        IReadOnlyDictionary<string, object?> d => ToDict(d, path),
        IDictionary d => ToDict(d.Keys.Cast<object>().Select(k => new KeyValuePair<string, object?>(
            k as string ?? throw new ArgumentException($"Template variable '{path}' has a non-string key", nameof(value)), d[k])), path),
        IEnumerable e => e.Cast<object?>().Select((x, i) => FromClr(x, $"{path}[{i}]")).ToList(),
        _ => throw new ArgumentException($"Template variable '{path}' has type {value.GetType().Name}, which has no template equivalent", nameof(value)),
    };

    static JinjaDict ToDict(IEnumerable<KeyValuePair<string, object?>> pairs, string path)
    {
        var d = new JinjaDict();
        foreach (var (k, v) in pairs) d.Set(k, FromClr(v, $"{path}.{k}"));
        return d;
    }

    static object? FromJson(JsonElement e, string path) => e.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.GetRawText().AsSpan().IndexOfAny(".eE") < 0 && e.TryGetInt64(out long l) ? (object)l : e.GetDouble(),
        JsonValueKind.Array => e.EnumerateArray().Select((x, i) => FromJson(x, $"{path}[{i}]")).ToList(),
        _ => ToDict(e.EnumerateObject().Select(p => new KeyValuePair<string, object?>(p.Name, p.Value)), path),
    };
}
