using System.Globalization;
using System.Text;

namespace OnnxInterp.Tokenization.Jinja;

/// <summary>Python's semantics for the values a template handles: truth, str() and repr(), ==, ordering, operators, len and iteration.</summary>
static class Py
{
    public static bool Truthy(object? v) => v switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> l => l.Count > 0,
        object?[] t => t.Length > 0,
        JinjaDict d => d.Count > 0,
        _ => true,
    };

    public static string TypeName(object? v) => v switch
    {
        null => "NoneType",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        object?[] => "tuple",
        JinjaDict => "dict",
        Undefined => "Undefined",
        Namespace => "Namespace",
        LoopContext => "LoopContext",
        Callable => "function",
        _ => v.GetType().Name,
    };

    /// <summary>jinja's object_type_repr, used in undefined hints: "'dict object'", "None".</summary>
    public static string ObjectTypeRepr(object? v) => v is null ? "None" : $"'{TypeName(v)} object'";

    /// <summary>Python's str(): what <c>{{ value }}</c> prints.</summary>
    public static string Str(object? v) => v switch
    {
        string s => s,
        Undefined => "",
        _ => Repr(v),
    };

    public static string Repr(object? v) => Repr(v, 0);

    static string Repr(object? v, int depth)
    {
        if (depth > 64) return "...";
        switch (v)
        {
            case null: return "None";
            case bool b: return b ? "True" : "False";
            case long l: return l.ToString(CultureInfo.InvariantCulture);
            case double d: return FloatRepr(d);
            case string s: return PyStrings.Repr(s);
            case Undefined: return "Undefined";
            case List<object?> list: return "[" + string.Join(", ", list.Select(e => Repr(e, depth + 1))) + "]";
            case object?[] t: return t.Length == 1 ? $"({Repr(t[0], depth + 1)},)" : "(" + string.Join(", ", t.Select(e => Repr(e, depth + 1))) + ")";
            case JinjaDict d: return "{" + string.Join(", ", d.Items.Select(p => Repr(p.Key, depth + 1) + ": " + Repr(p.Value, depth + 1))) + "}";
            case Namespace ns: return "<Namespace {" + string.Join(", ", ns.Attributes.Select(p => PyStrings.Repr(p.Key) + ": " + Repr(p.Value, depth + 1))) + "}>";
            default: return v.ToString() ?? "";
        }
    }

    /// <summary>Python's repr(float): the shortest round-trip digits, exponent form below 1e-4 and from 1e16.</summary>
    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        if (d == 0) return double.IsNegative(d) ? "-0.0" : "0.0";
        // Shortest round-trip digits: "R" gives them, in either fixed or exponent form; normalise to digits + exponent.
        string shortest = Math.Abs(d).ToString("R", CultureInfo.InvariantCulture);
        int ePos = shortest.IndexOfAny(['E', 'e']);
        string mantissa = ePos < 0 ? shortest : shortest[..ePos];
        int exp = ePos < 0 ? 0 : int.Parse(shortest[(ePos + 1)..], CultureInfo.InvariantCulture);
        int dot = mantissa.IndexOf('.');
        string digits = dot < 0 ? mantissa : mantissa.Remove(dot, 1);
        int decpt = (dot < 0 ? mantissa.Length : dot) + exp;
        int lead = 0;
        while (lead < digits.Length - 1 && digits[lead] == '0') { lead++; decpt--; }
        digits = digits[lead..].TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        var sb = new StringBuilder();
        if (d < 0) sb.Append('-');
        if (decpt > -4 && decpt <= 16)
        {
            if (decpt <= 0) sb.Append("0.").Append('0', -decpt).Append(digits);
            else if (decpt >= digits.Length) sb.Append(digits).Append('0', decpt - digits.Length).Append(".0");
            else sb.Append(digits, 0, decpt).Append('.').Append(digits, decpt, digits.Length - decpt);
        }
        else
        {
            sb.Append(digits[0]);
            if (digits.Length > 1) sb.Append('.').Append(digits, 1, digits.Length - 1);
            int e = decpt - 1;
            sb.Append('e').Append(e < 0 ? '-' : '+').Append(Math.Abs(e).ToString("00", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    public static bool IsInt(object? v, out long value)
    {
        switch (v)
        {
            case long l: value = l; return true;
            case bool b: value = b ? 1 : 0; return true;
            default: value = 0; return false;
        }
    }

    public static bool IsNumber(object? v, out double value)
    {
        switch (v)
        {
            case long l: value = l; return true;
            case bool b: value = b ? 1 : 0; return true;
            case double d: value = d; return true;
            default: value = 0; return false;
        }
    }

    public static bool Equal(object? a, object? b)
    {
        if (a is Undefined || b is Undefined) return a is Undefined && b is Undefined;
        if (a is null || b is null) return a is null && b is null;
        if (IsInt(a, out long la) && IsInt(b, out long lb)) return la == lb;
        if (IsNumber(a, out double da) && IsNumber(b, out double db)) return da == db;
        switch (a)
        {
            case string sa: return b is string sb && string.Equals(sa, sb, StringComparison.Ordinal);
            case List<object?> xa: return b is List<object?> xb && SequenceEqual(xa, xb);
            case object?[] ta: return b is object?[] tb && SequenceEqual(ta, tb);
            case JinjaDict ma:
                if (b is not JinjaDict mb || ma.Count != mb.Count) return false;
                foreach (var (k, v) in ma.Items)
                    if (!mb.TryGet(k, out var w) || !Equal(v, w)) return false;
                return true;
            default: return ReferenceEquals(a, b);
        }
    }

    static bool SequenceEqual(IReadOnlyList<object?> a, IReadOnlyList<object?> b)
    {
        if (a.Count != b.Count) return false;
        for (int i = 0; i < a.Count; i++)
            if (!Equal(a[i], b[i])) return false;
        return true;
    }

    /// <summary>Python's ordering (&lt;): numbers, strings by code point, lists and tuples element-wise.</summary>
    public static int Order(object? a, object? b, string op = "<")
    {
        if (a is Undefined ua) throw ua.Error();
        if (b is Undefined ub) throw ub.Error();
        if (IsInt(a, out long la) && IsInt(b, out long lb)) return la.CompareTo(lb);
        if (IsNumber(a, out double da) && IsNumber(b, out double db)) return da < db ? -1 : da > db ? 1 : 0;
        if (a is string sa && b is string sb) return PyStrings.CompareCodePoints(sa, sb);
        if ((a is List<object?> && b is List<object?>) || (a is object?[] && b is object?[]))
        {
            var xa = (IReadOnlyList<object?>)a;
            var xb = (IReadOnlyList<object?>)b;
            for (int i = 0; i < Math.Min(xa.Count, xb.Count); i++)
                if (!Equal(xa[i], xb[i])) return Order(xa[i], xb[i], op);
            return xa.Count.CompareTo(xb.Count);
        }
        throw new JinjaRuntimeError($"'{op}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    public static bool Compare(string op, object? a, object? b) => op switch
    {
        "==" => Equal(a, b),
        "!=" => !Equal(a, b),
        "<" => Order(a, b, op) < 0,
        "<=" => Order(a, b, op) <= 0,
        ">" => Order(a, b, op) > 0,
        ">=" => Order(a, b, op) >= 0,
        "in" => Contains(b, a),
        "notin" => !Contains(b, a),
        _ => throw new JinjaRuntimeError($"unknown comparison '{op}'"),
    };

    /// <summary>Python's <c>item in container</c>.</summary>
    public static bool Contains(object? container, object? item) => container switch
    {
        Undefined => false,
        string s => item is string sub
            ? s.Contains(sub, StringComparison.Ordinal)
            : throw new JinjaRuntimeError($"'in <string>' requires string as left operand, not {TypeName(item)}"),
        List<object?> l => l.Any(e => Equal(e, item)),
        object?[] t => t.Any(e => Equal(e, item)),
        JinjaDict d => PyKeyComparer.IsHashable(item) ? d.ContainsKey(item) : throw new JinjaRuntimeError($"unhashable type: '{TypeName(item)}'"),
        _ => throw new JinjaRuntimeError($"argument of type '{TypeName(container)}' is not iterable"),
    };

    /// <summary>Python's iter(): a list's items, a string's characters, a dict's keys; Undefined iterates as empty.</summary>
    public static IReadOnlyList<object?> Iterate(object? v) => v switch
    {
        List<object?> l => l,
        object?[] t => t,
        string s => PyStrings.Chars(s),
        JinjaDict d => d.Keys.ToList<object?>(),
        Undefined => [],
        _ => throw new JinjaRuntimeError($"'{TypeName(v)}' object is not iterable"),
    };

    public static long Length(object? v) => v switch
    {
        string s => PyStrings.CodePointCount(s),
        List<object?> l => l.Count,
        object?[] t => t.Length,
        JinjaDict d => d.Count,
        Undefined => 0,
        _ => throw new JinjaRuntimeError($"object of type '{TypeName(v)}' has no len()"),
    };

    public static object? Negate(object? v) => v switch
    {
        Undefined u => throw u.Error(),
        bool or long => (object)checked(-(IsInt(v, out long l) ? l : 0)),
        double d => -d,
        _ => throw new JinjaRuntimeError($"bad operand type for unary -: '{TypeName(v)}'"),
    };

    public static object? Plus(object? v) => v switch
    {
        Undefined u => throw u.Error(),
        bool b => b ? 1L : 0L,
        long or double => v,
        _ => throw new JinjaRuntimeError($"bad operand type for unary +: '{TypeName(v)}'"),
    };

    /// <summary>A binary operator: + - * / // % **.</summary>
    public static object? Binary(string op, object? a, object? b)
    {
        if (a is Undefined ua) throw ua.Error();
        if (b is Undefined ub) throw ub.Error();
        try
        {
            if (IsInt(a, out long la) && IsInt(b, out long lb)) return IntOp(op, la, lb);
            if (IsNumber(a, out double da) && IsNumber(b, out double db)) return FloatOp(op, da, db);
        }
        catch (OverflowException)
        {
            throw new JinjaRuntimeError($"integer overflow in '{op}'");
        }
        switch (op)
        {
            case "+" when a is string sa && b is string sb: return sa + sb;
            case "+" when a is List<object?> xa && b is List<object?> xb: return new List<object?>(xa.Concat(xb));
            case "+" when a is object?[] ta && b is object?[] tb: return ta.Concat(tb).ToArray();
            case "+" when a is string: throw new JinjaRuntimeError($"can only concatenate str (not \"{TypeName(b)}\") to str");
            case "+" when a is List<object?>: throw new JinjaRuntimeError($"can only concatenate list (not \"{TypeName(b)}\") to list");
            case "*" when IsInt(b, out long n) && a is string or List<object?> or object[]: return Repeat(a, n);
            case "*" when IsInt(a, out long n) && b is string or List<object?> or object[]: return Repeat(b, n);
            case "%" when a is string: throw new JinjaRuntimeError("printf-style string formatting (str % value) is not supported by this interpreter");
        }
        throw new JinjaRuntimeError($"unsupported operand type(s) for {op}: '{TypeName(a)}' and '{TypeName(b)}'");
    }

    // Every arm is cast to object: otherwise C# types the switch as double and int arithmetic returns floats.
    static object IntOp(string op, long a, long b) => op switch
    {
        "+" => (object)checked(a + b),
        "-" => checked(a - b),
        "*" => checked(a * b),
        "/" => b == 0 ? throw DivisionByZero() : (double)a / b,
        "//" => b == 0 ? throw DivisionByZero() : FloorDiv(a, b),
        "%" => b == 0 ? throw DivisionByZero() : FloorMod(a, b),
        "**" => b >= 0 ? (object)IntPow(a, b) : Math.Pow(a, b),
        _ => throw new JinjaRuntimeError($"unknown operator '{op}'"),
    };

    static long FloorDiv(long a, long b)
    {
        long q = a / b;
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
    }

    static long FloorMod(long a, long b)
    {
        long r = a % b;
        return r != 0 && (r < 0) != (b < 0) ? r + b : r;
    }

    static long IntPow(long a, long b)
    {
        if (a is 0 or 1) return b == 0 ? 1 : a;
        if (a == -1) return b % 2 == 0 ? 1 : -1;
        long result = 1;
        for (long i = 0; i < b; i++) result = checked(result * a); // |a| >= 2 overflows within 64 steps
        return result;
    }

    static object FloatOp(string op, double a, double b) => op switch
    {
        "+" => a + b,
        "-" => a - b,
        "*" => a * b,
        "/" => b == 0 ? throw DivisionByZero() : a / b,
        "//" => b == 0 ? throw DivisionByZero() : Math.Floor(a / b),
        "%" => b == 0 ? throw DivisionByZero() : a - b * Math.Floor(a / b),
        "**" => Math.Pow(a, b),
        _ => throw new JinjaRuntimeError($"unknown operator '{op}'"),
    };

    static JinjaRuntimeError DivisionByZero() => new("division by zero");

    /// <summary>Output a template may build by repetition is capped, as the sandbox caps range().</summary>
    const long MaxRepeat = 1 << 24;

    static object Repeat(object? seq, long n)
    {
        if (n <= 0) return seq switch { string => "", List<object?> => new List<object?>(), _ => Array.Empty<object?>() };
        long len = Length(seq);
        if (len * n > MaxRepeat) throw new JinjaRuntimeError($"repetition result longer than {MaxRepeat} is refused");
        switch (seq)
        {
            case string s:
                var sb = new StringBuilder(s.Length * (int)n);
                for (long i = 0; i < n; i++) sb.Append(s);
                return sb.ToString();
            case List<object?> l:
                var list = new List<object?>();
                for (long i = 0; i < n; i++) list.AddRange(l);
                return list;
            default:
                var t = (object?[])seq!;
                return Enumerable.Repeat(t, (int)n).SelectMany(x => x).ToArray();
        }
    }
}
