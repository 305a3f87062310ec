using System.Globalization;
using System.Text;

namespace OnnxInterp.Tokenization.Jinja;

/// <summary>
/// Python's json.dumps, which transformers' tojson filter calls with ensure_ascii=False (not jinja's own tojson, which
/// escapes HTML characters): ", " and ": " separators, or "," and ": " with an indent; keys in insertion order unless sorted.
/// </summary>
static class PyJson
{
    const int MaxDepth = 128;

    public static string Dumps(object? value, object? indent, object? separators, bool sortKeys, bool ensureAscii)
    {
        string? indentText = indent switch
        {
            null => null,
            string s => s,
            _ when Py.IsInt(indent, out long n) => new string(' ', (int)Math.Clamp(n, 0, 64)),
            _ => throw new JinjaRuntimeError($"tojson indent must be an int or a str, not {Py.TypeName(indent)}"),
        };
        string itemSep = indentText is null ? ", " : ",", keySep = ": ";
        if (separators is not null)
        {
            var seps = separators as IReadOnlyList<object?>;
            if (seps is not { Count: 2 } || seps[0] is not string a || seps[1] is not string b)
                throw new JinjaRuntimeError("tojson separators must be a pair of strings");
            (itemSep, keySep) = (a, b);
        }
        var sb = new StringBuilder();
        new Writer(sb, indentText, itemSep, keySep, sortKeys, ensureAscii).Write(value, 0);
        return sb.ToString();
    }

    sealed class Writer(StringBuilder sb, string? indent, string itemSep, string keySep, bool sortKeys, bool ensureAscii)
    {
        public void Write(object? v, int level)
        {
            if (level > MaxDepth) throw new JinjaRuntimeError("tojson: the value nests too deeply (circular?)");
            switch (v)
            {
                case null: sb.Append("null"); break;
                case bool b: sb.Append(b ? "true" : "false"); break;
                case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
                case double d: sb.Append(Float(d)); break;
                case string s: WriteString(s); break;
                case IReadOnlyList<object?> list when v is List<object?> or object[]:
                    WriteContainer('[', ']', list.Count, level, (i, lvl) => Write(list[i], lvl));
                    break;
                case JinjaDict dict:
                    var pairs = dict.Items.Select(p => (Key: Key(p.Key), p.Value)).ToList();
                    if (sortKeys) pairs.Sort((x, y) => PyStrings.CompareCodePoints(x.Key, y.Key));
                    WriteContainer('{', '}', pairs.Count, level, (i, lvl) =>
                    {
                        WriteString(pairs[i].Key);
                        sb.Append(keySep);
                        Write(pairs[i].Value, lvl);
                    });
                    break;
                default:
                    throw new JinjaRuntimeError($"Object of type {Py.TypeName(v)} is not JSON serializable");
            }
        }

        void WriteContainer(char open, char close, int count, int level, Action<int, int> item)
        {
            if (count == 0) { sb.Append(open).Append(close); return; }
            sb.Append(open);
            string newline = indent is null ? "" : "\n" + string.Concat(Enumerable.Repeat(indent, level + 1));
            sb.Append(newline);
            for (int i = 0; i < count; i++)
            {
                if (i > 0) sb.Append(itemSep).Append(newline);
                item(i, level + 1);
            }
            if (indent is not null) sb.Append('\n').Append(string.Concat(Enumerable.Repeat(indent, level)));
            sb.Append(close);
        }

        static string Key(object key) => key switch
        {
            string s => s,
            bool b => b ? "true" : "false",
            long l => l.ToString(CultureInfo.InvariantCulture),
            double d => Float(d),
            _ => throw new JinjaRuntimeError($"keys must be str, int, float, bool or None, not {Py.TypeName(key)}"),
        };

        static string Float(double d) =>
            double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : Py.FloatRepr(d);

        void WriteString(string s)
        {
            sb.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    case '\b': sb.Append("\\b"); break;
                    case '\f': sb.Append("\\f"); break;
                    default:
                        if (c < 0x20 || (ensureAscii && c > 0x7e)) sb.Append($"\\u{(int)c:x4}");
                        else sb.Append(c);
                        break;
                }
            }
            sb.Append('"');
        }
    }
}
