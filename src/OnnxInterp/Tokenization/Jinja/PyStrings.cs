using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace OnnxInterp.Tokenization.Jinja;

/// <summary>
/// Python's str behaviour: whitespace as str.isspace() sees it, indexing by code point, repr(), and the str methods
/// chat templates call (strip, split, startswith, replace, format...), bound by <see cref="GetMethod"/>.
/// </summary>
static partial class PyStrings
{
    /// <summary>Python's str.isspace() for one UTF-16 unit: .NET whitespace plus U+001C..U+001F.</summary>
    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || c is >= '\u001c' and <= '\u001f';

    public static string Strip(string s, string? chars) => RStrip(LStrip(s, chars), chars);

    public static string LStrip(string s, string? chars)
    {
        int i = 0;
        while (i < s.Length && (chars is null ? IsSpace(s[i]) : chars.Contains(s[i]))) i++;
        return s[i..];
    }

    public static string RStrip(string s, string? chars)
    {
        int i = s.Length;
        while (i > 0 && (chars is null ? IsSpace(s[i - 1]) : chars.Contains(s[i - 1]))) i--;
        return s[..i];
    }

    static bool HasSurrogates(string s) => s.AsSpan().IndexOfAnyInRange('\ud800', '\udfff') >= 0;

    public static long CodePointCount(string s) => HasSurrogates(s) ? s.EnumerateRunes().Count() : s.Length;

    /// <summary>The string's code points, each as a string: Python's list(s).</summary>
    public static List<object?> Chars(string s)
    {
        var list = new List<object?>(s.Length);
        foreach (var r in s.EnumerateRunes()) list.Add(r.ToString());
        return list;
    }

    /// <summary>The code point at Python index <paramref name="index"/> (negative counts from the end), or null.</summary>
    public static string? At(string s, long index)
    {
        if (!HasSurrogates(s))
        {
            if (index < 0) index += s.Length;
            return index >= 0 && index < s.Length ? s[(int)index].ToString() : null;
        }
        var chars = Chars(s);
        if (index < 0) index += chars.Count;
        return index >= 0 && index < chars.Count ? (string)chars[(int)index]! : null;
    }

    public static int CompareCodePoints(string a, string b)
    {
        var ea = a.EnumerateRunes();
        var eb = b.EnumerateRunes();
        while (true)
        {
            bool ma = ea.MoveNext(), mb = eb.MoveNext();
            if (!ma || !mb) return ma ? 1 : mb ? -1 : 0;
            int c = ea.Current.Value.CompareTo(eb.Current.Value);
            if (c != 0) return c;
        }
    }

    /// <summary>Python's repr(str): single quotes unless the text has a single quote and no double quote.</summary>
    public static string Repr(string s)
    {
        char quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        var sb = new StringBuilder(s.Length + 2).Append(quote);
        foreach (var r in s.EnumerateRunes())
        {
            int c = r.Value;
            if (c == quote || c == '\\') sb.Append('\\').Append((char)c);
            else if (c == '\t') sb.Append("\\t");
            else if (c == '\n') sb.Append("\\n");
            else if (c == '\r') sb.Append("\\r");
            else if (c < 0x20 || c == 0x7f) sb.Append($"\\x{c:x2}");
            else if (c < 0x7f || IsPrintable(r)) sb.Append(r.ToString());
            else if (c <= 0xff) sb.Append($"\\x{c:x2}");
            else if (c <= 0xffff) sb.Append($"\\u{c:x4}");
            else sb.Append($"\\U{c:x8}");
        }
        return sb.Append(quote).ToString();
    }

    static bool IsPrintable(Rune r) => Rune.GetUnicodeCategory(r) is not (UnicodeCategory.Control or UnicodeCategory.Format
        or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned
        or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator or UnicodeCategory.SpaceSeparator);

    /// <summary>Python's str.title(): each letter after a cased letter lowered, every other one title-cased.</summary>
    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool previousCased = false;
        foreach (char c in s)
        {
            sb.Append(previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousCased = char.IsUpper(c) || char.IsLower(c) || CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.TitlecaseLetter;
        }
        return sb.ToString();
    }

    /// <summary>Python's str.capitalize(): the first character upper-cased, the rest lower-cased.</summary>
    public static string Capitalize(string s) =>
        s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    [GeneratedRegex(@"([-\s({\[<]+)")]
    private static partial Regex WordBeginningSplit();

    /// <summary>jinja's title filter (not str.title): upper-cases the first letter of each word after -, space, (, {, [ or &lt;.</summary>
    public static string JinjaTitle(string s) => string.Concat(WordBeginningSplit().Split(s)
        .Where(item => item.Length > 0)
        .Select(item => char.ToUpperInvariant(item[0]) + item[1..].ToLowerInvariant()));

    /// <summary>Python's str.replace; an empty <paramref name="old"/> inserts <paramref name="replacement"/> between characters.</summary>
    public static string Replace(string s, string old, string replacement, long count)
    {
        if (count < 0) count = long.MaxValue;
        var sb = new StringBuilder();
        if (old.Length == 0)
        {
            var chars = Chars(s);
            long done = 0;
            for (int i = 0; i <= chars.Count; i++)
            {
                if (done < count) { sb.Append(replacement); done++; }
                if (i < chars.Count) sb.Append((string)chars[i]!);
            }
            return sb.ToString();
        }
        int pos = 0;
        for (long n = 0; n < count; n++)
        {
            int at = s.IndexOf(old, pos, StringComparison.Ordinal);
            if (at < 0) break;
            sb.Append(s, pos, at - pos).Append(replacement);
            pos = at + old.Length;
        }
        return sb.Append(s, pos, s.Length - pos).ToString();
    }

    /// <summary>Python's str.split(sep=None, maxsplit=-1).</summary>
    public static List<object?> Split(string s, string? sep, long maxSplit)
    {
        if (maxSplit < 0) maxSplit = long.MaxValue;
        var parts = new List<object?>();
        if (sep is null)
        {
            int i = 0;
            while (true)
            {
                while (i < s.Length && IsSpace(s[i])) i++;
                if (i >= s.Length) break;
                if (parts.Count == maxSplit)
                {
                    parts.Add(s[i..]); // Python keeps the remainder's trailing whitespace
                    break;
                }
                int j = i;
                while (j < s.Length && !IsSpace(s[j])) j++;
                parts.Add(s[i..j]);
                i = j;
            }
            return parts;
        }
        if (sep.Length == 0) throw new JinjaRuntimeError("empty separator");
        int pos = 0;
        while (parts.Count < maxSplit)
        {
            int at = s.IndexOf(sep, pos, StringComparison.Ordinal);
            if (at < 0) break;
            parts.Add(s[pos..at]);
            pos = at + sep.Length;
        }
        parts.Add(s[pos..]);
        return parts;
    }

    /// <summary>Python's str.rsplit with a separator (as templates use it: <c>text.rsplit('&lt;/think&gt;', 1)</c>).</summary>
    static List<object?> RSplit(string s, string? sep, long maxSplit)
    {
        if (sep is null || maxSplit < 0) return Split(s, sep, maxSplit);
        if (sep.Length == 0) throw new JinjaRuntimeError("empty separator");
        var parts = new List<object?>();
        int end = s.Length;
        while (parts.Count < maxSplit)
        {
            int at = end == 0 ? -1 : s.LastIndexOf(sep, end - 1, StringComparison.Ordinal);
            if (at < 0 || at + sep.Length > end) break;
            parts.Insert(0, s[(at + sep.Length)..end]);
            end = at;
        }
        parts.Insert(0, s[..end]);
        return parts;
    }

    static List<object?> SplitLines(string s, bool keepEnds)
    {
        var parts = new List<object?>();
        int start = 0;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c is not ('\n' or '\r' or '\v' or '\f' or '\u001c' or '\u001d' or '\u001e' or '\u0085' or '\u2028' or '\u2029')) continue;
            int end = i;
            if (c == '\r' && i + 1 < s.Length && s[i + 1] == '\n') i++;
            parts.Add(s[start..(keepEnds ? i + 1 : end)]);
            start = i + 1;
        }
        if (start < s.Length) parts.Add(s[start..]);
        return parts;
    }

    static bool AffixMatch(string s, object? affix, bool start, string method) => affix switch
    {
        string a => start ? s.StartsWith(a, StringComparison.Ordinal) : s.EndsWith(a, StringComparison.Ordinal),
        object?[] t => t.Any(x => AffixMatch(s, x, start, method)),
        _ => throw new JinjaRuntimeError($"{method} first arg must be str or a tuple of str, not {Py.TypeName(affix)}"),
    };

    static long CodePointIndex(string s, int utf16Index) =>
        utf16Index < 0 ? -1 : CodePointCount(s[..utf16Index]);

    static string? OptString(object? v, string method, string parameter) => v switch
    {
        null => null,
        string s => s,
        _ => v == CallArgs.Missing ? null : throw new JinjaRuntimeError($"{method}() argument '{parameter}' must be str or None, not {Py.TypeName(v)}"),
    };

    static string ReqString(object? v, string method) =>
        v as string ?? throw new JinjaRuntimeError($"{method}() argument must be str, not {Py.TypeName(v)}");

    static long OptInt(object? v, long fallback, string method) =>
        v == CallArgs.Missing || v is null ? fallback : Py.IsInt(v, out long n) ? n : throw new JinjaRuntimeError($"{method}() expects an integer, not {Py.TypeName(v)}");

    /// <summary>The bound str method <paramref name="name"/> of <paramref name="s"/>, or null when this interpreter has none.</summary>
    public static Callable? GetMethod(string s, string name)
    {
        Func<CallArgs, object?>? f = name switch
        {
            "strip" or "lstrip" or "rstrip" => a =>
            {
                string? chars = OptString(a.Bind(name, "chars")[0], name, "chars");
                return name == "strip" ? Strip(s, chars) : name == "lstrip" ? LStrip(s, chars) : RStrip(s, chars);
            },
            "startswith" or "endswith" => a => AffixMatch(s, a.Bind(name, "prefix")[0], name == "startswith", name),
            "split" or "rsplit" => a =>
            {
                var b = a.Bind(name, "sep", "maxsplit");
                string? sep = OptString(b[0], name, "sep");
                long max = OptInt(b[1], -1, name);
                return name == "split" ? Split(s, sep, max) : RSplit(s, sep, max);
            },
            "splitlines" => a => SplitLines(s, Py.Truthy(CallArgs.Or(a.Bind(name, "keepends")[0], false))),
            "upper" => a => { a.Bind(name); return s.ToUpperInvariant(); },
            "lower" => a => { a.Bind(name); return s.ToLowerInvariant(); },
            "title" => a => { a.Bind(name); return Title(s); },
            "capitalize" => a => { a.Bind(name); return Capitalize(s); },
            "replace" => a =>
            {
                var b = a.Bind(name, "old", "new", "count");
                return Replace(s, ReqString(b[0], name), ReqString(b[1], name), OptInt(b[2], -1, name));
            },
            "format" => a => Format(s, a),
            "join" => a => string.Join(s, Py.Iterate(a.Bind(name, "iterable")[0]).Select(x =>
                x as string ?? throw new JinjaRuntimeError($"sequence item: expected str instance, {Py.TypeName(x)} found"))),
            "find" => a => CodePointIndex(s, s.IndexOf(ReqString(a.Bind(name, "sub")[0], name), StringComparison.Ordinal)),
            "rfind" => a => CodePointIndex(s, s.LastIndexOf(ReqString(a.Bind(name, "sub")[0], name), StringComparison.Ordinal)),
            "count" => a =>
            {
                string sub = ReqString(a.Bind(name, "sub")[0], name);
                return sub.Length == 0 ? CodePointCount(s) + 1 : (long)((s.Length - s.Replace(sub, "", StringComparison.Ordinal).Length) / sub.Length);
            },
            "isdigit" => a => { a.Bind(name); return s.Length > 0 && s.All(char.IsDigit); },
            "isalpha" => a => { a.Bind(name); return s.Length > 0 && s.All(char.IsLetter); },
            "isalnum" => a => { a.Bind(name); return s.Length > 0 && s.All(char.IsLetterOrDigit); },
            "isspace" => a => { a.Bind(name); return s.Length > 0 && s.All(IsSpace); },
            "isupper" => a => { a.Bind(name); return s.Any(char.IsLetter) && !s.Any(char.IsLower); },
            "islower" => a => { a.Bind(name); return s.Any(char.IsLetter) && !s.Any(char.IsUpper); },
            _ => null,
        };
        return f is null ? null : new Callable("str." + name, f);
    }

    /// <summary>Python's str.format with "{}", "{0}", "{name}", "!r"/"!s" and "{{ }}"; format specs are not supported.</summary>
    static string Format(string s, CallArgs args)
    {
        var sb = new StringBuilder();
        int auto = 0;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c == '}')
            {
                if (i + 1 < s.Length && s[i + 1] == '}') { sb.Append('}'); i++; continue; }
                throw new JinjaRuntimeError("Single '}' encountered in format string");
            }
            if (c != '{') { sb.Append(c); continue; }
            if (i + 1 < s.Length && s[i + 1] == '{') { sb.Append('{'); i++; continue; }
            int close = s.IndexOf('}', i);
            if (close < 0) throw new JinjaRuntimeError("Single '{' encountered in format string");
            string field = s[(i + 1)..close];
            i = close;
            char conversion = 's';
            int bang = field.IndexOf('!');
            if (field.Contains(':')) throw new JinjaRuntimeError("format specs in str.format are not supported by this interpreter");
            if (bang >= 0) { conversion = field.Length > bang + 1 ? field[bang + 1] : 's'; field = field[..bang]; }
            object? value;
            if (field.Length == 0) value = Positional(args, auto++);
            else if (int.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out int index)) value = Positional(args, index);
            else value = args.Keywords.FirstOrDefault(k => k.Name == field) is { Name: not null } kw ? kw.Value : throw new JinjaRuntimeError($"KeyError: '{field}'");
            sb.Append(conversion == 'r' ? Py.Repr(value) : Py.Str(value));
        }
        return sb.ToString();
    }

    static object? Positional(CallArgs args, int index) =>
        index < args.Positional.Count ? args.Positional[index] : throw new JinjaRuntimeError($"Replacement index {index} out of range for positional args tuple");
}
