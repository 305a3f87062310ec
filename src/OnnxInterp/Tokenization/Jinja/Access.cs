namespace OnnxInterp.Tokenization.Jinja;

/// <summary>
/// jinja's environment.getattr / getitem: <c>x.name</c> tries the attribute (a method, a namespace or loop attribute)
/// and then the item; <c>x[key]</c> tries the item and then, for a string key, the attribute. A miss is Undefined;
/// using Undefined itself fails. Dict and str methods that change nothing are available; mutating ones are not
/// (transformers renders in jinja's ImmutableSandboxedEnvironment).
/// </summary>
static class Access
{
    static readonly HashSet<string> s_otherDictAttributes = ["copy", "pop", "popitem", "clear", "update", "setdefault", "fromkeys"];

    public static object? GetAttribute(object? obj, string name, bool itemFallback = true)
    {
        switch (obj)
        {
            case Undefined u:
                throw u.Error();
            case string s:
                if (PyStrings.GetMethod(s, name) is { } method) return method;
                break;
            case JinjaDict d:
                if (DictMethod(d, name) is { } dictMethod) return dictMethod;
                if (s_otherDictAttributes.Contains(name)) return new Undefined($"dict.{name} is not available in a sandboxed template");
                if (itemFallback && d.TryGet(name, out var value)) return value;
                break;
            case Namespace ns:
                if (ns.Attributes.TryGetValue(name, out var attr)) return attr;
                break;
            case LoopContext loop:
                if (loop.TryGet(name, out var loopAttr)) return loopAttr;
                break;
        }
        return Undefined.Member(obj, name);
    }

    public static object? GetItem(object? obj, object? key)
    {
        if (obj is Undefined u) throw u.Error();
        switch (obj)
        {
            case List<object?> or object?[] when Py.IsInt(key, out long i):
                var list = (IReadOnlyList<object?>)obj;
                if (i < 0) i += list.Count;
                return i >= 0 && i < list.Count ? list[(int)i] : Undefined.Member(obj, key!);
            case string s when Py.IsInt(key, out long i):
                return (object?)PyStrings.At(s, i) ?? Undefined.Member(obj, key!);
            case JinjaDict d:
                if (PyKeyComparer.IsHashable(key) && d.TryGet(key, out var value)) return value;
                break;
        }
        if (key is string name) return GetAttribute(obj, name, itemFallback: false);
        return Undefined.Member(obj, key ?? "None");
    }

    /// <summary>Python's <c>seq[start:stop:step]</c> on a list, tuple or string.</summary>
    public static object? Slice(object? obj, object? start, object? stop, object? step)
    {
        if (obj is Undefined u) throw u.Error();
        long? Index(object? v) => v is null ? null
            : Py.IsInt(v, out long n) ? n
            : v is Undefined uv ? throw uv.Error()
            : throw new JinjaRuntimeError("slice indices must be integers or None");
        long? a = Index(start), b = Index(stop), c = Index(step);
        IReadOnlyList<object?> items = obj switch
        {
            List<object?> l => l,
            object?[] t => t,
            string s => PyStrings.Chars(s),
            _ => throw new JinjaRuntimeError($"'{Py.TypeName(obj)}' object is not subscriptable"),
        };
        var picked = new List<object?>();
        foreach (int i in SliceIndices(items.Count, a, b, c)) picked.Add(items[i]);
        return obj switch
        {
            string => string.Concat(picked.Cast<string>()),
            object?[] => picked.ToArray(),
            _ => picked,
        };
    }

    static IEnumerable<int> SliceIndices(int length, long? start, long? stop, long? step)
    {
        long s = step ?? 1;
        if (s == 0) throw new JinjaRuntimeError("slice step cannot be zero");
        long Clamp(long? v, long fallback, long low, long high)
        {
            if (v is null) return fallback;
            long x = v.Value < 0 ? v.Value + length : v.Value;
            return Math.Clamp(x, low, high);
        }
        if (s > 0)
        {
            long from = Clamp(start, 0, 0, length), to = Clamp(stop, length, 0, length);
            for (long i = from; i < to; i += s) yield return (int)i;
        }
        else
        {
            long from = Clamp(start, length - 1, -1, length - 1), to = Clamp(stop, -1, -1, length - 1);
            for (long i = from; i > to; i += s) yield return (int)i;
        }
    }

    static Callable? DictMethod(JinjaDict d, string name) => name switch
    {
        "items" => new Callable("dict.items", a =>
        {
            a.Bind("items");
            return d.Items.Select(p => (object?)new object?[] { p.Key, p.Value }).ToList();
        }),
        "keys" => new Callable("dict.keys", a => { a.Bind("keys"); return d.Keys.ToList<object?>(); }),
        "values" => new Callable("dict.values", a => { a.Bind("values"); return d.Values.ToList(); }),
        "get" => new Callable("dict.get", a =>
        {
            var b = a.Bind("get", "key", "default");
            if (b[0] == CallArgs.Missing) throw new JinjaRuntimeError("get expected at least 1 argument, got 0");
            return d.TryGet(b[0], out var v) ? v : CallArgs.Or(b[1], null);
        }),
        _ => null,
    };
}
