namespace OnnxInterp.Tokenization.Jinja;

/// <summary>
/// jinja2 3.1's parser (jinja2/parser.py): statements here, expressions in Parser.Expressions.cs. Supported tags:
/// for (with else and an inline if filter), if/elif/else, set (names, tuples, namespace attributes, blocks), macro,
/// call, with, filter, print, raw, break/continue (transformers enables jinja2.ext.loopcontrols) and transformers'
/// generation. Not supported: block, extends, include, import, from, autoescape, recursive loops.
/// As jinja2 does, a filter or test that does not exist fails at parse time, unless it sits in an if statement or an
/// inline if expression, where it fails only when evaluated.
/// </summary>
sealed partial class Parser
{
    /// <summary>Nesting limit for statements and for expressions: templates come from model folders we did not write.</summary>
    const int MaxDepth = 100;

    readonly List<Token> _tokens;
    int _pos;
    int _depth;
    int _loopDepth;
    bool _soft; // inside an if statement or an inline if: unknown filters and tests fail at render time only
    readonly List<(string Kind, string Name, Token At)> _unknown = [];
    readonly Stack<string> _tags = new();
    readonly Stack<HashSet<string>> _referenced = new(); // names read inside each macro body being parsed

    Parser(List<Token> tokens) => _tokens = tokens;

    public static IReadOnlyList<Node> Parse(string source)
    {
        var p = new Parser(Lexer.Tokenize(source));
        var body = p.Subparse(null);
        if (p._unknown.Count > 0)
        {
            var (kind, name, at) = p._unknown[0];
            throw Fail(kind == "filter" ? Filters.Unknown(name) : IsTests.Unknown(name), at);
        }
        return body;
    }

    Token Current => _tokens[_pos];

    Token Peek(int ahead) => _tokens[Math.Min(_pos + ahead, _tokens.Count - 1)];

    Token Advance()
    {
        var t = _tokens[_pos];
        if (_pos < _tokens.Count - 1) _pos++;
        return t;
    }

    bool SkipName(string name)
    {
        if (!Current.IsName(name)) return false;
        Advance();
        return true;
    }

    bool SkipOp(string op)
    {
        if (!Current.IsOp(op)) return false;
        Advance();
        return true;
    }

    Token Expect(TokenKind kind, string? text = null)
    {
        var t = Current;
        if (t.Kind != kind || (text is not null && t.Text != text))
        {
            string want = text ?? kind switch
            {
                TokenKind.BlockEnd => "end of statement block",
                TokenKind.VariableEnd => "end of print statement",
                TokenKind.Name => "name",
                _ => kind.ToString().ToLowerInvariant(),
            };
            throw Fail($"expected token '{want}', got '{t.Describe()}'", t);
        }
        return Advance();
    }

    Token ExpectName(string? name = null) => Expect(TokenKind.Name, name);

    Token ExpectOp(string op) => Expect(TokenKind.Operator, op);

    static JinjaException Fail(string reason, Token at) => new(JinjaErrorKind.Syntax, reason, at.Line, at.Column);

    void Enter(Token at)
    {
        if (++_depth > MaxDepth) throw Fail($"the template nests deeper than {MaxDepth} levels", at);
    }

    List<Node> Subparse(string[]? endTags)
    {
        var body = new List<Node>();
        while (true)
        {
            var t = Current;
            switch (t.Kind)
            {
                case TokenKind.Data:
                    body.Add(new TextNode(t.Text, t.Line, t.Column));
                    Advance();
                    break;
                case TokenKind.VariableBegin:
                    Advance();
                    body.Add(new OutputNode(ParseTuple(), t.Line, t.Column));
                    Expect(TokenKind.VariableEnd);
                    break;
                case TokenKind.BlockBegin:
                    Advance();
                    if (endTags is not null && Current.Kind == TokenKind.Name && endTags.Contains(Current.Text)) return body;
                    body.Add(ParseStatement());
                    Expect(TokenKind.BlockEnd);
                    break;
                case TokenKind.Eof:
                    return body;
                default:
                    throw Fail($"unexpected '{t.Describe()}'", t);
            }
        }
    }

    List<Node> ParseStatements(string[] endTags, bool dropNeedle = false)
    {
        SkipOp(":");
        Expect(TokenKind.BlockEnd);
        var body = Subparse(endTags);
        if (Current.Kind == TokenKind.Eof)
        {
            string looking = string.Join(" or ", endTags.Select(e => $"'{e}'"));
            throw Fail($"Unexpected end of template. Jinja was looking for the following tags: {looking}. " +
                       $"The innermost block that needs to be closed is '{_tags.Peek()}'.", Current);
        }
        if (dropNeedle) Advance();
        return body;
    }

    Node ParseStatement()
    {
        var t = Current;
        if (t.Kind != TokenKind.Name) throw Fail("tag name expected", t);
        Enter(t);
        _tags.Push(t.Text);
        try
        {
            return t.Text switch
            {
                "for" => ParseFor(),
                "if" => ParseIf(),
                "set" => ParseSet(),
                "macro" => ParseMacro(),
                "with" => ParseWith(),
                "filter" => ParseFilterBlock(),
                "print" => ParsePrint(),
                "break" or "continue" => ParseLoopControl(),
                "generation" => ParseGeneration(),
                "call" => ParseCallBlock(),
                "block" or "extends" or "include" or "import" or "from" or "autoescape" =>
                    throw Fail($"the jinja tag '{t.Text}' is not supported by this interpreter", t),
                _ => throw UnknownTag(t),
            };
        }
        finally
        {
            _tags.Pop();
            _depth--;
        }
    }

    JinjaException UnknownTag(Token t)
    {
        string reason = $"Encountered unknown tag '{t.Text}'.";
        var open = _tags.Skip(1).FirstOrDefault();
        if (open is not null) reason += $" The innermost block that needs to be closed is '{open}'.";
        return Fail(reason, t);
    }

    Node ParseFor()
    {
        var start = Advance();
        var target = ParseAssignTarget(extraEnd: ["in"]);
        ExpectName("in");
        var iter = ParseTuple(withCondexpr: false, extraEnd: ["recursive"]);
        bool soft = _soft;
        _soft = false;
        try
        {
            Expr? filter = SkipName("if") ? ParseExpression() : null;
            if (Current.IsName("recursive")) throw Fail("recursive for loops are not supported by this interpreter", Current);
            _loopDepth++;
            var body = ParseStatements(["endfor", "else"]);
            _loopDepth--;
            IReadOnlyList<Node> elseBody = Advance().Text == "endfor" ? [] : ParseStatements(["endfor"], dropNeedle: true);
            return new ForNode(target, iter, filter, body, elseBody, start.Line, start.Column);
        }
        finally
        {
            _soft = soft;
        }
    }

    Node ParseIf()
    {
        var start = Advance();
        var branches = new List<IfBranch>();
        IReadOnlyList<Node> elseBody = [];
        bool soft = _soft;
        _soft = true;
        while (true)
        {
            var test = ParseTuple(withCondexpr: false);
            var body = ParseStatements(["elif", "else", "endif"]);
            branches.Add(new IfBranch(test, body));
            var t = Advance();
            if (t.IsName("elif")) continue;
            if (t.IsName("else")) elseBody = ParseStatements(["endif"], dropNeedle: true);
            break;
        }
        _soft = soft;
        return new IfNode(branches, elseBody, start.Line, start.Column);
    }

    Node ParseSet()
    {
        var start = Advance();
        var target = ParseAssignTarget(withNamespace: true);
        if (SkipOp("=")) return new SetNode(target, ParseTuple(), start.Line, start.Column);
        var filter = Current.IsOp("|") ? (FilterExpr?)ParseFilter(null) : null;
        var body = WithoutSoft(() => ParseStatements(["endset"], dropNeedle: true));
        return new SetBlockNode(target, filter, body, start.Line, start.Column);
    }

    Node ParseMacro()
    {
        var start = Advance();
        string name = ExpectName().Text;
        var (names, defaults) = ParseSignature(required: true);
        var (signature, body) = ParseCallableBody(["endmacro"], names, defaults);
        return new MacroNode(name, signature, body, start.Line, start.Column);
    }

    Node ParseCallBlock()
    {
        var start = Advance();
        var (names, defaults) = ParseSignature(required: false);
        var call = ParseExpression() as CallExpr ?? throw Fail("expected call", start);
        var (signature, body) = ParseCallableBody(["endcall"], names, defaults);
        return new CallBlockNode(call, signature, body, start.Line, start.Column);
    }

    /// <summary>A macro or caller body: its own loop context, and a record of the names it reads (varargs, kwargs, caller).</summary>
    (Signature, List<Node>) ParseCallableBody(string[] endTags, List<string> names, List<Expr?> defaults)
    {
        int loops = _loopDepth;
        _loopDepth = 0;
        _referenced.Push([]);
        var body = WithoutSoft(() => ParseStatements(endTags, dropNeedle: true));
        var used = _referenced.Pop();
        _loopDepth = loops;
        return (new Signature(names, defaults, used.Contains("varargs"), used.Contains("kwargs"), used.Contains("caller")), body);
    }

    (List<string> Names, List<Expr?> Defaults) ParseSignature(bool required)
    {
        var names = new List<string>();
        var defaults = new List<Expr?>();
        if (!required && !Current.IsOp("(")) return (names, defaults);
        ExpectOp("(");
        while (!Current.IsOp(")"))
        {
            if (names.Count > 0) ExpectOp(",");
            var p = ExpectName();
            if (SkipOp("=")) defaults.Add(ParseExpression());
            else if (defaults.Any(d => d is not null)) throw Fail("non-default argument follows default argument", p);
            else defaults.Add(null);
            names.Add(p.Text);
        }
        ExpectOp(")");
        return (names, defaults);
    }

    Node ParseWith()
    {
        var start = Advance();
        var targets = new List<Expr>();
        var values = new List<Expr>();
        while (Current.Kind != TokenKind.BlockEnd)
        {
            if (targets.Count > 0) ExpectOp(",");
            targets.Add(ParseAssignTarget());
            ExpectOp("=");
            values.Add(ParseExpression());
        }
        var body = WithoutSoft(() => ParseStatements(["endwith"], dropNeedle: true));
        return new WithNode(targets, values, body, start.Line, start.Column);
    }

    Node ParseFilterBlock()
    {
        var start = Advance();
        var filter = (FilterExpr)ParseFilter(null, startInline: true)!;
        var body = WithoutSoft(() => ParseStatements(["endfilter"], dropNeedle: true));
        return new FilterBlockNode(filter, body, start.Line, start.Column);
    }

    Node ParsePrint()
    {
        var start = Advance();
        var parts = new List<Expr>();
        while (Current.Kind != TokenKind.BlockEnd)
        {
            if (parts.Count > 0) ExpectOp(",");
            parts.Add(ParseExpression());
        }
        return new OutputNode(new ConcatExpr(parts, start.Line, start.Column), start.Line, start.Column);
    }

    Node ParseLoopControl()
    {
        var t = Advance();
        if (_loopDepth == 0) throw Fail($"'{t.Text}' outside a for loop", t);
        return new LoopControlNode(t.Text == "break", t.Line, t.Column);
    }

    Node ParseGeneration()
    {
        var start = Advance();
        var body = WithoutSoft(() => ParseStatements(["endgeneration"], dropNeedle: true));
        return new ScopedBodyNode(body, start.Line, start.Column);
    }

    T WithoutSoft<T>(Func<T> parse)
    {
        bool soft = _soft;
        _soft = false;
        try { return parse(); }
        finally { _soft = soft; }
    }

    Expr ParseAssignTarget(string[]? extraEnd = null, bool withNamespace = false)
    {
        var at = Current;
        var target = ParseTuple(simplified: true, extraEnd: extraEnd, withNamespace: withNamespace);
        if (!CanAssign(target)) throw Fail($"can't assign to '{Describe(target)}'", at);
        return target;
    }

    static bool CanAssign(Expr e) => e switch
    {
        NameExpr => true,
        NsRefExpr => true,
        TupleExpr t => t.Items.All(i => i is NameExpr),
        _ => false,
    };

    static string Describe(Expr e) => e switch
    {
        ConstExpr => "const",
        TupleExpr => "tuple",
        _ => e.GetType().Name.Replace("Expr", "").ToLowerInvariant(),
    };
}
