using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace OnnxInterp.Tokenization.Jinja;

enum TokenKind { Data, VariableBegin, VariableEnd, BlockBegin, BlockEnd, Name, String, Integer, Float, Operator, Eof }

/// <summary>One token; <see cref="Value"/> holds the decoded string, long or double of a literal.</summary>
readonly record struct Token(TokenKind Kind, string Text, object? Value, int Line, int Column)
{
    public bool Is(TokenKind kind, string text) => Kind == kind && Text == text;
    public bool IsName(string name) => Kind == TokenKind.Name && Text == name;
    public bool IsOp(string op) => Kind == TokenKind.Operator && Text == op;

    public string Describe() => Kind switch
    {
        TokenKind.Eof => "end of template",
        TokenKind.BlockEnd => "end of statement block",
        TokenKind.VariableEnd => "end of print statement",
        TokenKind.BlockBegin => "begin of statement block",
        TokenKind.VariableBegin => "begin of print statement",
        TokenKind.Data => "template data",
        _ => Text,
    };
}

/// <summary>
/// jinja2 3.1's lexer (jinja2/lexer.py) with transformers' settings: trim_blocks (the first newline after a block or
/// comment tag is dropped) and lstrip_blocks (spaces and tabs before a block or comment tag at the start of a line are
/// dropped), plus "-" / "+" whitespace control on every tag. Newlines are normalised to "\n" and one trailing newline
/// of the source is dropped (keep_trailing_newline=False).
/// </summary>
static partial class Lexer
{
    [GeneratedRegex(@"\G(?<![.])([0-9]+_)*[0-9]+((\.([0-9]+_)*[0-9]+)?[eE][+\-]?([0-9]+_)*[0-9]+|\.([0-9]+_)*[0-9]+)")]
    private static partial Regex FloatRe();

    [GeneratedRegex(@"\G(0[bB](_?[01])+|0[oO](_?[0-7])+|0[xX](_?[0-9a-fA-F])+|[1-9](_?[0-9])*|0(_?0)*)")]
    private static partial Regex IntegerRe();

    [GeneratedRegex(@"\G[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Nd}\p{Mn}\p{Mc}\p{Pc}]*")]
    private static partial Regex NameRe();

    [GeneratedRegex(@"\G('([^'\\]*(?:\\.[^'\\]*)*)'|""([^""\\]*(?:\\.[^""\\]*)*)"")", RegexOptions.Singleline)]
    private static partial Regex StringRe();

    [GeneratedRegex(@"\G\{%(-|\+|)\s*raw\s*(?:-%\}\s*|%\})")]
    private static partial Regex RawBeginRe();

    [GeneratedRegex(@"\{%(-|\+|)\s*endraw\s*(?:\+%\}|-%\}\s*|%\}\n?)")]
    private static partial Regex RawEndRe();

    static readonly string[] s_operators =
        ["//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"];

    /// <summary>The source as jinja lexes it: "\r\n" and "\r" become "\n", and one trailing newline is dropped.</summary>
    public static string Normalise(string source)
    {
        string s = source.Replace("\r\n", "\n").Replace('\r', '\n');
        return s.EndsWith('\n') ? s[..^1] : s;
    }

    public static List<Token> Tokenize(string source)
    {
        var lx = new LexState(Normalise(source));
        lx.Run();
        return lx.Tokens;
    }

    sealed class LexState(string src)
    {
        readonly string _src = src;
        readonly int[] _lineStarts = LineStarts(src);
        int _pos;
        bool _lineStarting = true; // jinja's line_starting: the last match ended with "\n" (or nothing was matched yet)
        public List<Token> Tokens { get; } = [];

        public void Run()
        {
            while (_pos < _src.Length)
            {
                int tag = _src.IndexOf('{', _pos);
                while (tag >= 0 && tag + 1 < _src.Length && _src[tag + 1] is not ('{' or '%' or '#'))
                    tag = _src.IndexOf('{', tag + 1);
                if (tag < 0 || tag + 1 >= _src.Length)
                {
                    Add(TokenKind.Data, _src[_pos..], null, _pos);
                    break;
                }
                char kind = _src[tag + 1];
                var raw = kind == '%' ? RawBeginRe().Match(_src, tag) : Match.Empty;
                int afterOpen = tag + 2;
                char sign = afterOpen < _src.Length && _src[afterOpen] is '-' or '+' ? _src[afterOpen] : '\0';
                EmitData(_pos, tag, sign, lstrip: kind != '{');
                if (raw.Success)
                {
                    _pos = raw.Index + raw.Length;
                    _lineStarting = _src[_pos - 1] == '\n';
                    LexRaw(tag);
                    continue;
                }
                _pos = afterOpen + (sign == '\0' ? 0 : 1);
                if (kind == '#') LexComment(tag);
                else LexTag(tag, block: kind == '%');
            }
            Add(TokenKind.Eof, "", null, _src.Length);
        }

        /// <summary>Data before a tag, with "-" (strip all whitespace) or lstrip_blocks (spaces before a block at line start) applied.</summary>
        void EmitData(int start, int end, char sign, bool lstrip)
        {
            string text = _src[start..end];
            if (sign == '-')
                text = PyStrings.RStrip(text, null);
            else if (sign != '+' && lstrip)
            {
                int lpos = text.LastIndexOf('\n') + 1;
                if ((lpos > 0 || _lineStarting) && lpos < text.Length && AllSpace(text.AsSpan(lpos)))
                    text = text[..lpos];
            }
            if (text.Length > 0) Add(TokenKind.Data, text, null, start);
        }

        void LexRaw(int tagStart)
        {
            var end = RawEndRe().Match(_src, _pos);
            if (!end.Success) throw Fail("Missing end of raw directive", tagStart);
            char sign = end.Groups[1].Value is { Length: 1 } s ? s[0] : '\0';
            EmitData(_pos, end.Index, sign, lstrip: true);
            _pos = end.Index + end.Length;
            _lineStarting = _src[_pos - 1] == '\n';
        }

        void LexComment(int tagStart)
        {
            for (int p = _pos; p < _src.Length; p++)
            {
                if (Starts(p, "+#}")) { Finish(p + 3, trim: false, skipWhitespace: false); return; }
                if (Starts(p, "-#}")) { Finish(p + 3, trim: false, skipWhitespace: true); return; }
                if (Starts(p, "#}")) { Finish(p + 2, trim: true, skipWhitespace: false); return; }
            }
            throw Fail("Missing end of comment tag", tagStart);
        }

        void LexTag(int tagStart, bool block)
        {
            Add(block ? TokenKind.BlockBegin : TokenKind.VariableBegin, block ? "{%" : "{{", null, tagStart);
            var balance = new Stack<char>();
            while (true)
            {
                if (_pos >= _src.Length)
                    throw Fail($"unexpected end of template, expected '{(block ? "%}" : "}}")}'", tagStart);
                if (balance.Count == 0)
                {
                    int p = _pos;
                    if (block && Starts(p, "+%}")) { AddEnd(TokenKind.BlockEnd, p); Finish(p + 3, false, false); return; }
                    if (block && Starts(p, "-%}")) { AddEnd(TokenKind.BlockEnd, p); Finish(p + 3, false, true); return; }
                    if (block && Starts(p, "%}")) { AddEnd(TokenKind.BlockEnd, p); Finish(p + 2, true, false); return; }
                    if (!block && Starts(p, "-}}")) { AddEnd(TokenKind.VariableEnd, p); Finish(p + 3, false, true); return; }
                    if (!block && Starts(p, "}}")) { AddEnd(TokenKind.VariableEnd, p); Finish(p + 2, false, false); return; }
                }
                char c = _src[_pos];
                if (PyStrings.IsSpace(c)) { _pos++; continue; }
                Match m;
                if ((m = FloatRe().Match(_src, _pos)).Success)
                    AddLiteral(TokenKind.Float, m, double.Parse(m.Value.Replace("_", ""), NumberStyles.Float, CultureInfo.InvariantCulture));
                else if ((m = IntegerRe().Match(_src, _pos)).Success)
                    AddLiteral(TokenKind.Integer, m, ParseInteger(m.Value.Replace("_", ""), _pos));
                else if ((m = NameRe().Match(_src, _pos)).Success)
                    AddLiteral(TokenKind.Name, m, null);
                else if ((m = StringRe().Match(_src, _pos)).Success)
                    AddLiteral(TokenKind.String, m, Unescape(m.Value[1..^1], _pos));
                else
                {
                    string? op = s_operators.FirstOrDefault(o => Starts(_pos, o));
                    if (op is null) throw Fail($"unexpected char '{c}' at {_pos}", _pos);
                    Balance(balance, op, _pos);
                    Add(TokenKind.Operator, op, null, _pos);
                    _pos += op.Length;
                }
            }
        }

        void Balance(Stack<char> balance, string op, int at)
        {
            switch (op)
            {
                case "{": balance.Push('}'); break;
                case "(": balance.Push(')'); break;
                case "[": balance.Push(']'); break;
                case "}" or ")" or "]":
                    if (balance.Count == 0) throw Fail($"unexpected '{op}'", at);
                    char expected = balance.Pop();
                    if (expected != op[0]) throw Fail($"unexpected '{op}', expected '{expected}'", at);
                    break;
            }
        }

        void AddLiteral(TokenKind kind, Match m, object? value)
        {
            Add(kind, m.Value, value, _pos);
            _pos += m.Length;
        }

        void AddEnd(TokenKind kind, int at) => Add(kind, kind == TokenKind.BlockEnd ? "%}" : "}}", null, at);

        /// <summary>Moves past a tag end: trim_blocks drops one "\n"; "-" drops all whitespace.</summary>
        void Finish(int pos, bool trim, bool skipWhitespace)
        {
            if (trim && pos < _src.Length && _src[pos] == '\n') pos++;
            if (skipWhitespace)
                while (pos < _src.Length && PyStrings.IsSpace(_src[pos])) pos++;
            _pos = pos;
            _lineStarting = _src[pos - 1] == '\n';
        }

        bool Starts(int p, string s) => string.CompareOrdinal(_src, p, s, 0, s.Length) == 0;

        void Add(TokenKind kind, string text, object? value, int pos)
        {
            var (line, col) = Position(_lineStarts, pos);
            Tokens.Add(new Token(kind, text, value, line, col));
        }

        JinjaException Fail(string reason, int pos)
        {
            var (line, col) = Position(_lineStarts, pos);
            return new JinjaException(JinjaErrorKind.Syntax, reason, line, col);
        }

        object ParseInteger(string text, int at)
        {
            int radix = text.Length > 1 && text[0] == '0' ? char.ToLowerInvariant(text[1]) switch { 'b' => 2, 'o' => 8, 'x' => 16, _ => 10 } : 10;
            string digits = radix == 10 ? text : text[2..];
            long value = 0;
            try
            {
                foreach (char d in digits)
                    value = checked(value * radix + Convert.ToInt32(d.ToString(), 16));
            }
            catch (OverflowException)
            {
                throw Fail($"integer literal {text} is out of the supported range", at);
            }
            return value;
        }

        /// <summary>Python's "unicode-escape" decoding, which jinja applies to string literals.</summary>
        string Unescape(string s, int at)
        {
            if (!s.Contains('\\')) return s;
            var sb = new StringBuilder(s.Length);
            for (int i = 0; i < s.Length; i++)
            {
                char c = s[i];
                if (c != '\\' || i + 1 >= s.Length) { sb.Append(c); continue; }
                char e = s[++i];
                switch (e)
                {
                    case '\n': break;
                    case '\\': sb.Append('\\'); break;
                    case '\'': sb.Append('\''); break;
                    case '"': sb.Append('"'); break;
                    case 'a': sb.Append('\a'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'v': sb.Append('\v'); break;
                    case >= '0' and <= '7':
                        int oct = e - '0', n = 1;
                        while (n < 3 && i + 1 < s.Length && s[i + 1] is >= '0' and <= '7') { oct = oct * 8 + (s[++i] - '0'); n++; }
                        sb.Append((char)oct);
                        break;
                    case 'x' or 'u' or 'U':
                        int len = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                        if (s.Length - i - 1 < len || !long.TryParse(s.AsSpan(i + 1, len), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out long cp))
                            throw Fail($"truncated \\{e} escape in a string literal", at);
                        if (cp > 0x10FFFF) throw Fail("illegal Unicode character in a string literal", at);
                        if (cp <= 0xFFFF) sb.Append((char)cp);
                        else sb.Append(char.ConvertFromUtf32((int)cp));
                        i += len;
                        break;
                    default: sb.Append('\\').Append(e); break;
                }
            }
            return sb.ToString();
        }

        static bool AllSpace(ReadOnlySpan<char> s)
        {
            foreach (char c in s)
                if (!PyStrings.IsSpace(c)) return false;
            return true;
        }

        static int[] LineStarts(string s)
        {
            var starts = new List<int> { 0 };
            for (int i = 0; i < s.Length; i++)
                if (s[i] == '\n') starts.Add(i + 1);
            return [.. starts];
        }
    }

    static (int Line, int Column) Position(int[] lineStarts, int pos)
    {
        int i = Array.BinarySearch(lineStarts, pos);
        if (i < 0) i = ~i - 1;
        return (i + 1, pos - lineStarts[i] + 1);
    }
}
