using System.Globalization;
using System.Text;

namespace OnnxInterp.Tokenization.Jinja;

/// <summary>
/// jinja2's builtin filters (jinja2/filters.py) that chat templates use, with transformers' tojson (Python json.dumps,
/// ensure_ascii=False). select/reject/selectattr/rejectattr/map return lists where jinja returns generators.
/// </summary>
static class Filters
{
    delegate object? Filter(object? value, CallArgs args);

    static readonly object s_noneKey = new(); // unique() keys None under this

    static readonly Dictionary<string, Filter> s_all = new(StringComparer.Ordinal)
    {
        ["trim"] = (v, a) => PyStrings.Strip(Py.Str(v), OptStr(a.Bind("trim", "chars")[0])),
        ["length"] = (v, a) => { a.Bind("length"); return Py.Length(v); },
        ["count"] = (v, a) => { a.Bind("count"); return Py.Length(v); },
        ["upper"] = (v, a) => { a.Bind("upper"); return Py.Str(v).ToUpperInvariant(); },
        ["lower"] = (v, a) => { a.Bind("lower"); return Py.Str(v).ToLowerInvariant(); },
        ["title"] = (v, a) => { a.Bind("title"); return PyStrings.JinjaTitle(Py.Str(v)); },
        ["capitalize"] = (v, a) => { a.Bind("capitalize"); return PyStrings.Capitalize(Py.Str(v)); },
        ["string"] = (v, a) => { a.Bind("string"); return Py.Str(v); },
        ["safe"] = (v, a) => { a.Bind("safe"); return Py.Str(v); },
        ["escape"] = Escape,
        ["e"] = Escape,
        ["join"] = Join,
        ["first"] = (v, a) => { a.Bind("first"); var items = Py.Iterate(v); return items.Count > 0 ? items[0] : new Undefined("No first item, sequence was empty."); },
        ["last"] = (v, a) => { a.Bind("last"); var items = Py.Iterate(v); return items.Count > 0 ? items[^1] : new Undefined("No last item, sequence was empty."); },
        ["default"] = Default,
        ["d"] = Default,
        ["tojson"] = ToJson,
        ["int"] = Int,
        ["float"] = Float,
        ["list"] = (v, a) => { a.Bind("list"); return new List<object?>(Py.Iterate(v)); },
        ["replace"] = (v, a) =>
        {
            var b = a.Bind("replace", "old", "new", "count");
            long count = b[2] == CallArgs.Missing || b[2] is null ? -1 : Py.IsInt(b[2], out long n) ? n : throw new JinjaRuntimeError("replace count must be an integer");
            return PyStrings.Replace(Py.Str(v), Py.Str(CallArgs.Or(b[0], "")), Py.Str(CallArgs.Or(b[1], "")), count);
        },
        ["select"] = (v, a) => SelectOrReject(v, a, select: true, byAttribute: false),
        ["reject"] = (v, a) => SelectOrReject(v, a, select: false, byAttribute: false),
        ["selectattr"] = (v, a) => SelectOrReject(v, a, select: true, byAttribute: true),
        ["rejectattr"] = (v, a) => SelectOrReject(v, a, select: false, byAttribute: true),
        ["map"] = Map,
        ["items"] = (v, a) =>
        {
            a.Bind("items");
            return v switch
            {
                Undefined => new List<object?>(),
                JinjaDict d => d.Items.Select(p => (object?)new object?[] { p.Key, p.Value }).ToList(),
                _ => throw new JinjaRuntimeError("Can only get item pairs from a mapping."),
            };
        },
        ["dictsort"] = DictSort,
        ["reverse"] = (v, a) =>
        {
            a.Bind("reverse");
            if (v is string s) return string.Concat(PyStrings.Chars(s).Reverse<object?>().Cast<string>());
            var list = new List<object?>(Py.Iterate(v));
            list.Reverse();
            return list;
        },
        ["unique"] = (v, a) =>
        {
            var b = a.Bind("unique", "case_sensitive", "attribute");
            var key = KeyFunction(b[1], Py.Truthy(CallArgs.Or(b[0], false)));
            var seen = new HashSet<object>(PyKeyComparer.Instance);
            return Py.Iterate(v).Where(item => seen.Add(key(item) ?? s_noneKey)).ToList();
        },
        ["sort"] = (v, a) =>
        {
            var b = a.Bind("sort", "reverse", "case_sensitive", "attribute");
            var key = KeyFunction(b[2], Py.Truthy(CallArgs.Or(b[1], false)));
            var sorted = Py.Iterate(v).Select(x => (Key: key(x), Item: x)).ToList();
            StableSort(sorted, Py.Truthy(CallArgs.Or(b[0], false)));
            return sorted.Select(p => p.Item).ToList();
        },
        ["min"] = (v, a) => MinMax(v, a, "min", -1),
        ["max"] = (v, a) => MinMax(v, a, "max", 1),
        ["sum"] = (v, a) =>
        {
            var b = a.Bind("sum", "attribute", "start");
            var key = KeyFunction(b[0], caseSensitive: true);
            return Py.Iterate(v).Aggregate(CallArgs.Or(b[1], 0L), (acc, x) => Py.Binary("+", acc, key(x)));
        },
        ["abs"] = (v, a) =>
        {
            a.Bind("abs");
            if (Py.IsInt(v, out long l)) return l == long.MinValue ? throw new JinjaRuntimeError("integer overflow in abs") : Math.Abs(l);
            return v is double d ? Math.Abs(d) : throw new JinjaRuntimeError($"bad operand type for abs(): '{Py.TypeName(v)}'");
        },
        ["round"] = Round,
        ["indent"] = Indent,
        ["attr"] = (v, a) => Access.GetAttribute(v, Py.Str(a.Bind("attr", "name")[0]), itemFallback: false),
    };

    /// <summary>jinja2 builtins this interpreter leaves out; a template that uses one gets a clear error, not "no filter named".</summary>
    static readonly HashSet<string> s_jinjaOnly =
    [
        "batch", "center", "filesizeformat", "forceescape", "format", "groupby", "pprint", "random", "slice", "striptags",
        "truncate", "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr",
    ];

    public static bool Exists(string name) => s_all.ContainsKey(name);

    public static string Unknown(string name) => s_jinjaOnly.Contains(name)
        ? $"the jinja filter '{name}' is not supported by this interpreter"
        : $"No filter named '{name}'.";

    public static object? Apply(string name, object? value, CallArgs args) =>
        s_all.TryGetValue(name, out var f) ? f(value, args) : throw new JinjaRuntimeError(Unknown(name));

    static string? OptStr(object? v) => v == CallArgs.Missing || v is null ? null : Py.Str(v);

    static object? Escape(object? v, CallArgs a)
    {
        a.Bind("escape");
        var s = Py.Str(v);
        return s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&#34;").Replace("'", "&#39;");
    }

    static object? Join(object? v, CallArgs a)
    {
        var b = a.Bind("join", "d", "attribute");
        var key = KeyFunction(b[1], caseSensitive: true);
        return string.Join(Py.Str(CallArgs.Or(b[0], "")), Py.Iterate(v).Select(x => Py.Str(key(x))));
    }

    static object? Default(object? v, CallArgs a)
    {
        var b = a.Bind("default", "default_value", "boolean");
        bool boolean = Py.Truthy(CallArgs.Or(b[1], false));
        return v is Undefined || (boolean && !Py.Truthy(v)) ? CallArgs.Or(b[0], "") : v;
    }

    static object? ToJson(object? v, CallArgs a)
    {
        var b = a.Bind("tojson", "ensure_ascii", "indent", "separators", "sort_keys");
        return PyJson.Dumps(v, CallArgs.Or(b[1], null), CallArgs.Or(b[2], null), Py.Truthy(CallArgs.Or(b[3], false)),
            Py.Truthy(CallArgs.Or(b[0], false)));
    }

    static object? Int(object? v, CallArgs a)
    {
        var b = a.Bind("int", "default", "base");
        object? fallback = CallArgs.Or(b[0], 0L);
        int radix = Py.IsInt(CallArgs.Or(b[1], 10L), out long r) ? (int)r : 10;
        switch (v)
        {
            case Undefined u: throw u.Error();
            case bool or long: return Py.IsInt(v, out long l) ? l : fallback;
            case double d: return double.IsFinite(d) ? (object)(long)Math.Truncate(d) : throw new JinjaRuntimeError("cannot convert float infinity or NaN to integer");
            case string s:
                string t = PyStrings.Strip(s, null).Replace("_", "");
                try
                {
                    if (t.Length > 0 && radix is 2 or 8 or 10 or 16)
                    {
                        bool negative = t[0] == '-';
                        string digits = t.TrimStart('+', '-');
                        long parsed = Convert.ToInt64(digits, radix);
                        return negative ? -parsed : parsed;
                    }
                }
                catch (Exception e) when (e is FormatException or OverflowException or ArgumentException) { }
                return TryParseFloat(s, out double f) && double.IsFinite(f) ? (long)Math.Truncate(f) : fallback;
            default: return fallback;
        }
    }

    static object? Float(object? v, CallArgs a)
    {
        object? fallback = CallArgs.Or(a.Bind("float", "default")[0], 0.0);
        return v switch
        {
            Undefined u => throw u.Error(),
            double d => d,
            bool or long => Py.IsNumber(v, out double n) ? n : fallback,
            string s => TryParseFloat(s, out double f) ? f : fallback,
            _ => fallback,
        };
    }

    /// <summary>Python's float(str): surrounding whitespace, underscores between digits, inf and nan.</summary>
    static bool TryParseFloat(string s, out double value)
    {
        string t = PyStrings.Strip(s, null).Replace("_", "").ToLowerInvariant();
        string body = t.TrimStart('+', '-');
        double sign = t.StartsWith('-') ? -1 : 1;
        if (body is "inf" or "infinity") { value = sign * double.PositiveInfinity; return true; }
        if (body == "nan") { value = double.NaN; return true; }
        return double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && !t.Contains(',');
    }

    /// <summary>jinja's make_attrgetter: a dotted path ("a.b", "0.name") looked up with getitem semantics; null means identity.</summary>
    static Func<object?, object?> KeyFunction(object? attribute, bool caseSensitive, object? fallback = null)
    {
        Func<object?, object?> get = x => x;
        if (attribute != CallArgs.Missing && attribute is not null)
        {
            var parts = Py.Str(attribute).Split('.').Select(p => long.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out long i) ? (object)i : p).ToArray();
            get = x =>
            {
                foreach (var p in parts) x = Access.GetItem(x, p);
                return x is Undefined && fallback is not null ? fallback : x;
            };
        }
        if (caseSensitive) return get;
        return x =>
        {
            var k = get(x);
            return k is string s ? s.ToLowerInvariant() : k;
        };
    }

    static object? SelectOrReject(object? v, CallArgs a, bool select, bool byAttribute)
    {
        var args = a.Positional;
        int next = 0;
        Func<object?, object?> key = x => x;
        if (byAttribute)
        {
            if (args.Count == 0) throw new JinjaRuntimeError("Missing parameter for attribute name");
            key = KeyFunction(args[next++], caseSensitive: true);
        }
        Func<object?, bool> test = Py.Truthy;
        if (args.Count > next)
        {
            string name = Py.Str(args[next++]);
            var testArgs = new CallArgs(args.Skip(next).ToList(), a.Keywords);
            test = x => IsTests.Apply(name, x, testArgs);
        }
        return Py.Iterate(v).Where(x => test(key(x)) == select).ToList();
    }

    static object? Map(object? v, CallArgs a)
    {
        if (a.Positional.Count == 0)
        {
            object? attribute = a.Keywords.FirstOrDefault(k => k.Name == "attribute").Value;
            if (attribute is null) throw new JinjaRuntimeError("map requires a filter name or attribute=");
            object? fallback = a.Keywords.FirstOrDefault(k => k.Name == "default").Value;
            var key = KeyFunction(attribute, caseSensitive: true, fallback);
            return Py.Iterate(v).Select(key).ToList();
        }
        string name = Py.Str(a.Positional[0]);
        var rest = new CallArgs(a.Positional.Skip(1).ToList(), a.Keywords);
        return Py.Iterate(v).Select(x => Apply(name, x, rest)).ToList();
    }

    static object? DictSort(object? v, CallArgs a)
    {
        var b = a.Bind("dictsort", "case_sensitive", "by", "reverse");
        if (v is not JinjaDict d) throw new JinjaRuntimeError("dictsort needs a mapping");
        string by = Py.Str(CallArgs.Or(b[1], "key"));
        int pos = by == "key" ? 0 : by == "value" ? 1 : throw new JinjaRuntimeError("You can only sort by either 'key' or 'value'");
        bool caseSensitive = Py.Truthy(CallArgs.Or(b[0], false));
        var pairs = d.Items.Select(p =>
        {
            object? k = pos == 0 ? p.Key : p.Value;
            return (Key: !caseSensitive && k is string s ? s.ToLowerInvariant() : k, Item: (object?)new object?[] { p.Key, p.Value });
        }).ToList();
        StableSort(pairs, Py.Truthy(CallArgs.Or(b[2], false)));
        return pairs.Select(p => p.Item).ToList();
    }

    /// <summary>Python's sorted(..., key, reverse): stable, and reverse keeps equal items in their original order.</summary>
    static void StableSort(List<(object? Key, object? Item)> items, bool reverse)
    {
        var indexed = items.Select((p, i) => (p.Key, p.Item, Index: i)).ToList();
        indexed.Sort((x, y) =>
        {
            int c = Py.Order(x.Key, y.Key);
            if (reverse) c = -c;
            return c != 0 ? c : x.Index.CompareTo(y.Index);
        });
        for (int i = 0; i < items.Count; i++) items[i] = (indexed[i].Key, indexed[i].Item);
    }

    static object? MinMax(object? v, CallArgs a, string name, int sign)
    {
        var b = a.Bind(name, "case_sensitive", "attribute");
        var key = KeyFunction(b[1], Py.Truthy(CallArgs.Or(b[0], false)));
        var items = Py.Iterate(v);
        if (items.Count == 0) return new Undefined("No aggregated item, sequence was empty.");
        object? best = items[0];
        foreach (var x in items.Skip(1))
            if (Py.Order(key(x), key(best)) * sign > 0) best = x;
        return best;
    }

    static object? Round(object? v, CallArgs a)
    {
        var b = a.Bind("round", "precision", "method");
        long precision = Py.IsInt(CallArgs.Or(b[0], 0L), out long p) ? p : throw new JinjaRuntimeError("round precision must be an integer");
        string method = Py.Str(CallArgs.Or(b[1], "common"));
        if (method is not ("common" or "ceil" or "floor")) throw new JinjaRuntimeError("method must be common, ceil or floor");
        if (!Py.IsNumber(v, out double x)) throw new JinjaRuntimeError($"type {Py.TypeName(v)} doesn't define __round__ method");
        double scale = Math.Pow(10, precision);
        if (method != "common") return (method == "ceil" ? Math.Ceiling(x * scale) : Math.Floor(x * scale)) / scale;
        if (Py.IsInt(v, out long l))
        {
            if (precision >= 0) return l;
            double factor = Math.Pow(10, -precision);
            return (long)(Math.Round(l / factor, MidpointRounding.ToEven) * factor);
        }
        return precision is >= 0 and <= 15 ? Math.Round(x, (int)precision, MidpointRounding.ToEven) : Math.Round(x * scale, MidpointRounding.ToEven) / scale;
    }

    static object? Indent(object? v, CallArgs a)
    {
        var b = a.Bind("indent", "width", "first", "blank");
        object? width = CallArgs.Or(b[0], 4L);
        string indention = width as string ?? new string(' ', Py.IsInt(width, out long w) ? (int)Math.Clamp(w, 0, 1024) : 4);
        bool first = Py.Truthy(CallArgs.Or(b[1], false)), blank = Py.Truthy(CallArgs.Or(b[2], false));
        var lines = ((List<object?>)PyStrings.GetMethod(Py.Str(v) + "\n", "splitlines")!.Invoke(CallArgs.Empty)!).Cast<string>().ToList();
        var sb = new StringBuilder();
        if (blank) sb.AppendJoin("\n" + indention, lines);
        else
        {
            sb.Append(lines[0]);
            foreach (var line in lines.Skip(1)) sb.Append('\n').Append(line.Length > 0 ? indention + line : line);
        }
        return first ? indention + sb : sb.ToString();
    }
}
