namespace OnnxInterp.Tokenization.Jinja;

// Runtime values, as Python objects: null is None, bool, long (int), double (float), string (str),
// List<object?> (list), object?[] (tuple), JinjaDict (dict), plus the types below.

/// <summary>
/// jinja2's default Undefined: prints as "", is falsy, has length 0, iterates as empty and equals only another
/// Undefined; any other use (arithmetic, attribute or item access, a call, ordering) fails with its hint.
/// </summary>
sealed class Undefined(string hint)
{
    public string Hint { get; } = hint;

    public JinjaRuntimeError Error() => new(Hint);

    public static Undefined Variable(string name) => new($"'{name}' is undefined");

    public static Undefined Member(object? owner, object name) =>
        new(name is string s
            ? $"{Py.ObjectTypeRepr(owner)} has no attribute '{s}'"
            : $"{Py.ObjectTypeRepr(owner)} has no element {Py.Repr(name)}");

    public override string ToString() => "";
}

/// <summary>A Python dict: insertion-ordered, keys compared as Python compares them (1 == 1.0 == True).</summary>
sealed class JinjaDict
{
    readonly OrderedDictionary<object, object?> _items = new(PyKeyComparer.Instance);

    public int Count => _items.Count;

    public IEnumerable<object> Keys => _items.Keys;

    public IEnumerable<object?> Values => _items.Values;

    public IEnumerable<KeyValuePair<object, object?>> Items => _items;

    public void Set(object? key, object? value) => _items[CheckKey(key)] = value;

    public bool TryGet(object? key, out object? value)
    {
        value = null;
        return key is not null && PyKeyComparer.IsHashable(key) && _items.TryGetValue(key, out value);
    }

    public bool ContainsKey(object? key) => TryGet(key, out _);

    static object CheckKey(object? key)
    {
        if (key is null) throw new JinjaRuntimeError("None as a dict key is not supported by this interpreter");
        if (!PyKeyComparer.IsHashable(key)) throw new JinjaRuntimeError($"unhashable type: '{Py.TypeName(key)}'");
        return key;
    }
}

/// <summary>Python equality and hashing for dict keys and unique().</summary>
sealed class PyKeyComparer : IEqualityComparer<object>
{
    public static readonly PyKeyComparer Instance = new();

    public static bool IsHashable(object? v) => v switch
    {
        null or bool or long or double or string or Undefined => true,
        object?[] t => t.All(IsHashable),
        _ => v is not (List<object?> or JinjaDict),
    };

    public new bool Equals(object? x, object? y) => Py.Equal(x, y);

    public int GetHashCode(object obj) => obj switch
    {
        bool b => b ? 1 : 0,
        long l => l.GetHashCode(),
        double d => d == Math.Floor(d) && Math.Abs(d) < 9.2e18 ? ((long)d).GetHashCode() : d.GetHashCode(),
        string s => StringComparer.Ordinal.GetHashCode(s),
        object?[] t => t.Aggregate(17, (h, e) => h * 31 + (e is null ? 0 : GetHashCode(e))),
        Undefined => 7,
        _ => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(obj),
    };
}

/// <summary>jinja's <c>namespace(...)</c>: the one object a template may change, by <c>{% set ns.attr = value %}</c>.</summary>
sealed class Namespace
{
    public OrderedDictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}

/// <summary>The <c>loop</c> variable of a for loop.</summary>
sealed class LoopContext(IReadOnlyList<object?> items)
{
    readonly IReadOnlyList<object?> _items = items;
    object? _lastChanged = s_noValue;
    static readonly object s_noValue = new();

    public int Index0 { get; set; }

    public bool TryGet(string name, out object? value)
    {
        int n = _items.Count;
        value = name switch
        {
            "index" => (long)Index0 + 1,
            "index0" => (long)Index0,
            "revindex" => (long)(n - Index0),
            "revindex0" => (long)(n - Index0 - 1),
            "first" => Index0 == 0,
            "last" => Index0 == n - 1,
            "length" => (long)n,
            "depth" => 1L,
            "depth0" => 0L,
            "previtem" => Index0 > 0 ? _items[Index0 - 1] : new Undefined("there is no previous item"),
            "nextitem" => Index0 < n - 1 ? _items[Index0 + 1] : new Undefined("there is no next item"),
            "cycle" => new Callable("loop.cycle", a =>
            {
                if (a.Positional.Count == 0) throw new JinjaRuntimeError("no items for cycling given");
                return a.Positional[Index0 % a.Positional.Count];
            }),
            "changed" => new Callable("loop.changed", a =>
            {
                object? v = a.Positional.Count == 1 ? a.Positional[0] : a.Positional.ToArray();
                if (_lastChanged != s_noValue && Py.Equal(_lastChanged, v)) return false;
                _lastChanged = v;
                return true;
            }),
            _ => s_noValue,
        };
        return value != s_noValue;
    }
}

/// <summary>A function value: a global (range, namespace, raise_exception...), a bound string or dict method, a macro.</summary>
sealed class Callable(string name, Func<CallArgs, object?> invoke)
{
    public string Name { get; } = name;

    public object? Invoke(CallArgs args) => invoke(args);

    public override string ToString() => $"<function {Name}>";
}

/// <summary>Evaluated call arguments, bound to a Python signature by <see cref="Bind"/>.</summary>
sealed class CallArgs(IReadOnlyList<object?> positional, IReadOnlyList<(string Name, object? Value)> keywords)
{
    public static readonly object Missing = new();

    public static readonly CallArgs Empty = new([], []);

    public IReadOnlyList<object?> Positional { get; } = positional;

    public IReadOnlyList<(string Name, object? Value)> Keywords { get; } = keywords;

    /// <summary>
    /// Binds the arguments to <paramref name="parameters"/> as Python would: positionals in order, then keywords by name.
    /// Parameters not given are <see cref="Missing"/>.
    /// </summary>
    public object?[] Bind(string function, params string[] parameters)
    {
        if (Positional.Count > parameters.Length)
            throw new JinjaRuntimeError($"{function}() takes at most {parameters.Length} argument(s) ({Positional.Count} given)");
        var bound = new object?[parameters.Length];
        Array.Fill(bound, Missing);
        for (int i = 0; i < Positional.Count; i++) bound[i] = Positional[i];
        foreach (var (name, value) in Keywords)
        {
            int i = Array.IndexOf(parameters, name);
            if (i < 0) throw new JinjaRuntimeError($"{function}() got an unexpected keyword argument '{name}'");
            if (bound[i] != Missing) throw new JinjaRuntimeError($"{function}() got multiple values for argument '{name}'");
            bound[i] = value;
        }
        return bound;
    }

    public static object? Or(object? bound, object? fallback) => bound == Missing ? fallback : bound;
}
