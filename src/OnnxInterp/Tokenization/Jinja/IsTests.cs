namespace OnnxInterp.Tokenization.Jinja;

/// <summary>jinja2's builtin tests (jinja2/tests.py), used as <c>value is name</c> and by select/reject.</summary>
static class IsTests
{
    delegate bool Test(object? value, CallArgs args);

    static readonly Dictionary<string, Test> s_all = new(StringComparer.Ordinal)
    {
        ["defined"] = (v, a) => v is not Undefined,
        ["undefined"] = (v, a) => v is Undefined,
        ["none"] = (v, a) => v is null,
        ["boolean"] = (v, a) => v is bool,
        ["true"] = (v, a) => v is true,
        ["false"] = (v, a) => v is false,
        ["string"] = (v, a) => v is string,
        ["number"] = (v, a) => v is bool or long or double,
        ["integer"] = (v, a) => v is long,
        ["float"] = (v, a) => v is double,
        ["mapping"] = (v, a) => v is JinjaDict,
        // Python: iterable when iter() works (Undefined iterates as empty); a sequence when it has len() and [].
        ["iterable"] = (v, a) => v is string or List<object?> or object?[] or JinjaDict or Undefined or LoopContext,
        ["sequence"] = (v, a) => v is string or List<object?> or object?[] or JinjaDict or Undefined,
        ["callable"] = (v, a) => v is Callable,
        ["odd"] = (v, a) => Py.Equal(Py.Binary("%", v, 2L), 1L),
        ["even"] = (v, a) => Py.Equal(Py.Binary("%", v, 2L), 0L),
        ["divisibleby"] = (v, a) => Py.Equal(Py.Binary("%", v, Arg(a, "divisibleby", "num")), 0L),
        ["lower"] = (v, a) => (bool)PyStrings.GetMethod(Py.Str(v), "islower")!.Invoke(CallArgs.Empty)!,
        ["upper"] = (v, a) => (bool)PyStrings.GetMethod(Py.Str(v), "isupper")!.Invoke(CallArgs.Empty)!,
        ["escaped"] = (v, a) => false,
        ["eq"] = Compare("=="),
        ["equalto"] = Compare("=="),
        ["=="] = Compare("=="),
        ["ne"] = Compare("!="),
        ["!="] = Compare("!="),
        ["lt"] = Compare("<"),
        ["lessthan"] = Compare("<"),
        ["<"] = Compare("<"),
        ["le"] = Compare("<="),
        ["<="] = Compare("<="),
        ["gt"] = Compare(">"),
        ["greaterthan"] = Compare(">"),
        [">"] = Compare(">"),
        ["ge"] = Compare(">="),
        [">="] = Compare(">="),
        ["in"] = (v, a) => Py.Contains(Arg(a, "in", "seq"), v),
        ["sameas"] = (v, a) => SameAs(v, Arg(a, "sameas", "other")),
        ["filter"] = (v, a) => v is string s && Filters.Exists(s),
        ["test"] = (v, a) => v is string s && Exists(s),
    };

    public static bool Exists(string name) => s_all.ContainsKey(name);

    public static string Unknown(string name) => $"No test named '{name}'.";

    public static bool Apply(string name, object? value, CallArgs args) =>
        s_all.TryGetValue(name, out var t) ? t(value, args) : throw new JinjaRuntimeError(Unknown(name));

    static object? Arg(CallArgs a, string test, string parameter)
    {
        var v = a.Bind(test, parameter)[0];
        return v == CallArgs.Missing ? throw new JinjaRuntimeError($"test '{test}' needs an argument '{parameter}'") : v;
    }

    static Test Compare(string op) => (v, a) => Py.Compare(op, v, Arg(a, op, "other"));

    /// <summary>Python's <c>is</c>: None, True and False are singletons; other values are the same object or not.</summary>
    static bool SameAs(object? a, object? b) => (a, b) switch
    {
        (null, null) => true,
        (bool x, bool y) => x == y,
        (long x, long y) => x == y && x is >= -5 and <= 256, // CPython caches small ints
        (string x, string y) => ReferenceEquals(x, y),
        _ => ReferenceEquals(a, b),
    };
}
