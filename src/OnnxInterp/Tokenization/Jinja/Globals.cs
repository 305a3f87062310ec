using System.Globalization;
using System.Text;

namespace OnnxInterp.Tokenization.Jinja;

/// <summary>
/// The functions a chat template can call: jinja2's range, namespace and dict, and the two transformers adds,
/// raise_exception(message) and strftime_now(format).
/// </summary>
static class Globals
{
    /// <summary>jinja2's sandbox refuses larger ranges (MAX_RANGE).</summary>
    const long MaxRange = 100_000;

    public static IEnumerable<KeyValuePair<string, object?>> All(Func<DateTime> now)
    {
        yield return new("raise_exception", new Callable("raise_exception", a =>
            throw new JinjaRuntimeError(Py.Str(CallArgs.Or(a.Bind("raise_exception", "message")[0], "")), raised: true)));
        yield return new("strftime_now", new Callable("strftime_now", a =>
            Strftime(now(), Py.Str(CallArgs.Or(a.Bind("strftime_now", "format")[0], "")))));
        yield return new("namespace", new Callable("namespace", Namespace));
        yield return new("range", new Callable("range", Range));
        yield return new("dict", new Callable("dict", a =>
        {
            if (a.Positional.Count > 0) throw new JinjaRuntimeError("dict() accepts keyword arguments only in this interpreter");
            var d = new JinjaDict();
            foreach (var (k, v) in a.Keywords) d.Set(k, v);
            return d;
        }));
    }

    static object? Namespace(CallArgs a)
    {
        var ns = new Namespace();
        foreach (var init in a.Positional)
        {
            if (init is not JinjaDict d) throw new JinjaRuntimeError("namespace() takes a mapping or keyword arguments");
            foreach (var (k, v) in d.Items) ns.Attributes[Py.Str(k)] = v;
        }
        foreach (var (k, v) in a.Keywords) ns.Attributes[k] = v;
        return ns;
    }

    static object? Range(CallArgs a)
    {
        if (a.Keywords.Count > 0) throw new JinjaRuntimeError("range() takes no keyword arguments");
        var n = a.Positional.Select(v => Py.IsInt(v, out long x) ? x : v is Undefined u ? throw u.Error()
            : throw new JinjaRuntimeError($"'{Py.TypeName(v)}' object cannot be interpreted as an integer")).ToArray();
        var (start, stop, step) = n.Length switch
        {
            1 => (0L, n[0], 1L),
            2 => (n[0], n[1], 1L),
            3 => (n[0], n[1], n[2]),
            _ => throw new JinjaRuntimeError($"range expected 1 to 3 arguments, got {n.Length}"),
        };
        if (step == 0) throw new JinjaRuntimeError("range() arg 3 must not be zero");
        long count = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0) : (start > stop ? (start - stop - step - 1) / -step : 0);
        if (count > MaxRange) throw new JinjaRuntimeError($"Range too big. The sandbox blocks ranges larger than MAX_RANGE ({MaxRange}).");
        var list = new List<object?>((int)count);
        for (long i = 0; i < count; i++) list.Add(start + i * step);
        return list;
    }

    /// <summary>Python's datetime.strftime in the C locale, with glibc's "%-d" (no padding) forms.</summary>
    public static string Strftime(DateTime t, string format)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length) { sb.Append(format[i]); continue; }
            bool noPad = format[i + 1] == '-' && i + 2 < format.Length;
            char d = format[noPad ? i + 2 : i + 1];
            string Num(int v, int width) => noPad ? v.ToString(c) : v.ToString(c).PadLeft(width, '0');
            string? s = d switch
            {
                'a' => t.ToString("ddd", c),
                'A' => t.ToString("dddd", c),
                'w' => ((int)t.DayOfWeek).ToString(c),
                'd' => Num(t.Day, 2),
                'e' => t.Day.ToString(c).PadLeft(2, ' '),
                'b' or 'h' => t.ToString("MMM", c),
                'B' => t.ToString("MMMM", c),
                'm' => Num(t.Month, 2),
                'y' => Num(t.Year % 100, 2),
                'Y' => t.Year.ToString(c),
                'H' => Num(t.Hour, 2),
                'I' => Num(t.Hour % 12 == 0 ? 12 : t.Hour % 12, 2),
                'p' => t.Hour < 12 ? "AM" : "PM",
                'M' => Num(t.Minute, 2),
                'S' => Num(t.Second, 2),
                'f' => (t.Ticks % TimeSpan.TicksPerSecond / 10).ToString("000000", c),
                'j' => Num(t.DayOfYear, 3),
                'z' => "",
                'Z' => "",
                'D' => t.ToString("MM/dd/yy", c),
                'F' => t.ToString("yyyy-MM-dd", c),
                'T' => t.ToString("HH:mm:ss", c),
                '%' => "%",
                _ => null,
            };
            if (s is null) { sb.Append('%'); continue; }
            sb.Append(s);
            i += noPad ? 2 : 1;
        }
        return sb.ToString();
    }
}
