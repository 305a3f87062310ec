using System.Text;

namespace OnnxInterp.Tests.Checkpoints.Families;

/// <summary>
/// Just enough of C#'s lexical grammar to tell code from string literals and to drop comments: regular, verbatim, raw
/// and interpolated strings (whose holes are code again), char literals, line and block comments.
/// </summary>
static class CSharpLexer
{
    public enum Kind { Code, String }

    /// <summary>A run of code, or the text of one string literal (an interpolated one gives one per text part).</summary>
    public readonly record struct Token(Kind Kind, string Text, int Line);

    public static List<Token> Lex(string source)
    {
        var lexer = new Lexer(source);
        lexer.Code(insideHole: false);
        return lexer.Tokens;
    }

    sealed class Lexer(string s)
    {
        int _i, _line = 1;
        public List<Token> Tokens { get; } = [];

        char At(int k) => _i + k < s.Length ? s[_i + k] : '\0';

        void Advance(int n = 1)
        {
            for (int k = 0; k < n && _i < s.Length; k++, _i++) if (s[_i] == '\n') _line++;
        }

        /// <summary>Code until the end, or inside an interpolation hole until its closing brace (left unread).</summary>
        public void Code(bool insideHole)
        {
            var code = new StringBuilder();
            int line = _line, depth = 0;
            void Flush()
            {
                if (code.Length > 0) Tokens.Add(new Token(Kind.Code, code.ToString(), line));
                code.Clear();
                line = _line;
            }
            while (_i < s.Length)
            {
                char c = At(0);
                if (c == '/' && At(1) == '/') { while (_i < s.Length && At(0) != '\n') Advance(); continue; }
                if (c == '/' && At(1) == '*')
                {
                    Advance(2);
                    while (_i < s.Length && !(At(0) == '*' && At(1) == '/')) Advance();
                    Advance(2);
                    continue;
                }
                if (c == '\'')
                {
                    Advance();
                    while (_i < s.Length && At(0) != '\'') Advance(At(0) == '\\' ? 2 : 1);
                    Advance();
                    code.Append(' ');
                    continue;
                }
                if (c is '"' or '$' or '@' && StringAhead(out int dollars, out bool verbatim, out int quotes))
                {
                    Flush();
                    String(dollars, verbatim, quotes);
                    line = _line;
                    continue;
                }
                if (insideHole)
                {
                    if (c == '{') depth++;
                    else if (c == '}' && depth-- == 0) break;
                }
                code.Append(c);
                Advance();
            }
            Flush();
        }

        /// <summary>Whether a string literal starts here: its $ count, @, and opening quotes (1, or 3+ for raw).</summary>
        bool StringAhead(out int dollars, out bool verbatim, out int quotes)
        {
            int k = 0;
            dollars = 0; verbatim = false; quotes = 0;
            while (At(k) is '$' or '@') { if (At(k) == '$') dollars++; else verbatim = true; k++; }
            while (At(k + quotes) == '"') quotes++;
            if (quotes == 0) return false;
            if (verbatim || quotes < 3) quotes = 1;  // "" is an empty string; verbatim strings are never raw
            return true;
        }

        void String(int dollars, bool verbatim, int quotes)
        {
            while (At(0) is '$' or '@') Advance();
            Advance(quotes);
            var text = new StringBuilder();
            int line = _line;
            void Flush()
            {
                Tokens.Add(new Token(Kind.String, text.ToString(), line));
                text.Clear();
            }
            int holeBraces = Math.Max(dollars, 1);
            bool raw = quotes >= 3;
            while (_i < s.Length)
            {
                char c = At(0);
                if (raw && c == '"' && Enumerable.Range(0, quotes).All(k => At(k) == '"')) { Advance(quotes); break; }
                if (!raw && c == '"')
                {
                    if (verbatim && At(1) == '"') { text.Append('"'); Advance(2); continue; }
                    Advance();
                    break;
                }
                if (!raw && !verbatim && c == '\\') { text.Append(c).Append(At(1)); Advance(2); continue; }
                if (dollars > 0 && c == '{')
                {
                    int run = 0;
                    while (At(run) == '{') run++;
                    if (!raw && run >= 2) { text.Append('{'); Advance(2); continue; }  // {{ is a brace
                    if (run >= holeBraces)
                    {
                        text.Append('{', run - holeBraces);
                        Flush();
                        Advance(run);
                        Code(insideHole: true);
                        Advance(holeBraces);
                        line = _line;
                        continue;
                    }
                }
                if (dollars > 0 && !raw && c == '}' && At(1) == '}') { text.Append('}'); Advance(2); continue; }
                text.Append(c);
                Advance();
            }
            Flush();
        }
    }
}
