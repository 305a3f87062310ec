namespace OnnxInterp.Tokenization.Jinja;

// Expressions, with jinja2's precedence from loosest to tightest: inline if, or, and, not, comparisons and in,
// + -, ~, * / // %, **, unary - +, then a primary with its postfixes (.attr, [index], (call)) and its filters and
// tests, so "a + b | trim" is "a + (b | trim)" and "-x | abs" is "(-x) | abs".
sealed partial class Parser
{
    static readonly HashSet<string> s_compareOps = ["==", "!=", "<", "<=", ">", ">="];

    Expr ParseTuple(bool simplified = false, bool withCondexpr = true, string[]? extraEnd = null, bool explicitParens = false, bool withNamespace = false)
    {
        var start = Current;
        var items = new List<Expr>();
        bool isTuple = false;
        while (true)
        {
            if (items.Count > 0) ExpectOp(",");
            if (IsTupleEnd(extraEnd)) break;
            items.Add(simplified ? ParsePrimary(withNamespace) : ParseExpression(withCondexpr));
            if (Current.IsOp(",")) isTuple = true;
            else break;
        }
        if (!isTuple)
        {
            if (items.Count > 0) return items[0];
            if (!explicitParens) throw Fail($"Expected an expression, got '{Current.Describe()}'", Current);
        }
        return new TupleExpr(items, start.Line, start.Column);
    }

    bool IsTupleEnd(string[]? extraEnd)
    {
        var t = Current;
        if (t.Kind is TokenKind.VariableEnd or TokenKind.BlockEnd || t.IsOp(")")) return true;
        return extraEnd is not null && t.Kind == TokenKind.Name && extraEnd.Contains(t.Text);
    }

    Expr ParseExpression(bool withCondexpr = true) => withCondexpr ? ParseCondExpr() : ParseOr();

    Expr ParseCondExpr()
    {
        var start = Current;
        int mark = _unknown.Count;
        var expr = ParseOr();
        while (SkipName("if"))
        {
            // jinja2 compiles every part of an inline if in a "soft" frame: unknown filters there fail only when run.
            _unknown.RemoveRange(mark, _unknown.Count - mark);
            bool soft = _soft;
            _soft = true;
            var test = ParseOr();
            var otherwise = SkipName("else") ? ParseCondExpr() : null;
            _soft = soft;
            expr = new CondExpr(test, expr, otherwise, start.Line, start.Column);
        }
        return expr;
    }

    Expr ParseOr()
    {
        var start = Current;
        var left = ParseAnd();
        while (SkipName("or")) left = new BinaryExpr("or", left, ParseAnd(), start.Line, start.Column);
        return left;
    }

    Expr ParseAnd()
    {
        var start = Current;
        var left = ParseNot();
        while (SkipName("and")) left = new BinaryExpr("and", left, ParseNot(), start.Line, start.Column);
        return left;
    }

    Expr ParseNot()
    {
        var t = Current;
        if (!t.IsName("not")) return ParseCompare();
        Advance();
        Enter(t);
        try { return new UnaryExpr("not", ParseNot(), t.Line, t.Column); }
        finally { _depth--; }
    }

    Expr ParseCompare()
    {
        var start = Current;
        var first = ParseMath1();
        var rest = new List<(string, Expr)>();
        while (true)
        {
            if (Current.Kind == TokenKind.Operator && s_compareOps.Contains(Current.Text))
                rest.Add((Advance().Text, ParseMath1()));
            else if (SkipName("in"))
                rest.Add(("in", ParseMath1()));
            else if (Current.IsName("not") && Peek(1).IsName("in"))
            {
                Advance();
                Advance();
                rest.Add(("notin", ParseMath1()));
            }
            else break;
        }
        return rest.Count == 0 ? first : new CompareExpr(first, rest, start.Line, start.Column);
    }

    Expr ParseMath1()
    {
        var start = Current;
        var left = ParseConcat();
        while (Current.IsOp("+") || Current.IsOp("-"))
            left = new BinaryExpr(Advance().Text, left, ParseConcat(), start.Line, start.Column);
        return left;
    }

    Expr ParseConcat()
    {
        var start = Current;
        var parts = new List<Expr> { ParseMath2() };
        while (SkipOp("~")) parts.Add(ParseMath2());
        return parts.Count == 1 ? parts[0] : new ConcatExpr(parts, start.Line, start.Column);
    }

    Expr ParseMath2()
    {
        var start = Current;
        var left = ParsePow();
        while (Current.Kind == TokenKind.Operator && Current.Text is "*" or "/" or "//" or "%")
            left = new BinaryExpr(Advance().Text, left, ParsePow(), start.Line, start.Column);
        return left;
    }

    Expr ParsePow()
    {
        var start = Current;
        var left = ParseUnary();
        while (SkipOp("**")) left = new BinaryExpr("**", left, ParseUnary(), start.Line, start.Column);
        return left;
    }

    Expr ParseUnary(bool withFilter = true)
    {
        var t = Current;
        Enter(t);
        try
        {
            Expr node;
            if (t.IsOp("-") || t.IsOp("+"))
            {
                Advance();
                node = new UnaryExpr(t.Text, ParseUnary(false), t.Line, t.Column);
            }
            else node = ParsePrimary();
            node = ParsePostfix(node);
            return withFilter ? ParseFilterExpr(node) : node;
        }
        finally
        {
            _depth--;
        }
    }

    Expr ParsePrimary(bool withNamespace = false)
    {
        var t = Current;
        switch (t.Kind)
        {
            case TokenKind.Name:
                Advance();
                if (t.Text is "true" or "True" or "false" or "False") return new ConstExpr(t.Text is "true" or "True", t.Line, t.Column);
                if (t.Text is "none" or "None") return new ConstExpr(null, t.Line, t.Column);
                if (withNamespace && SkipOp(".")) return new NsRefExpr(t.Text, ExpectName().Text, t.Line, t.Column);
                if (_referenced.Count > 0) _referenced.Peek().Add(t.Text);
                return new NameExpr(t.Text, t.Line, t.Column);
            case TokenKind.String:
                var text = new System.Text.StringBuilder();
                while (Current.Kind == TokenKind.String) text.Append((string)Advance().Value!);
                return new ConstExpr(text.ToString(), t.Line, t.Column);
            case TokenKind.Integer or TokenKind.Float:
                Advance();
                return new ConstExpr(t.Value, t.Line, t.Column);
            case TokenKind.Operator when t.Text == "(":
                Advance();
                var inner = ParseTuple(explicitParens: true);
                ExpectOp(")");
                return inner;
            case TokenKind.Operator when t.Text == "[":
                return ParseList();
            case TokenKind.Operator when t.Text == "{":
                return ParseDict();
            default:
                throw Fail($"unexpected '{t.Describe()}'", t);
        }
    }

    Expr ParseList()
    {
        var start = ExpectOp("[");
        var items = new List<Expr>();
        while (!Current.IsOp("]"))
        {
            if (items.Count > 0) ExpectOp(",");
            if (Current.IsOp("]")) break;
            items.Add(ParseExpression());
        }
        ExpectOp("]");
        return new ListExpr(items, start.Line, start.Column);
    }

    Expr ParseDict()
    {
        var start = ExpectOp("{");
        var pairs = new List<(Expr, Expr)>();
        while (!Current.IsOp("}"))
        {
            if (pairs.Count > 0) ExpectOp(",");
            if (Current.IsOp("}")) break;
            var key = ParseExpression();
            ExpectOp(":");
            pairs.Add((key, ParseExpression()));
        }
        ExpectOp("}");
        return new DictExpr(pairs, start.Line, start.Column);
    }

    Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            if (Current.IsOp(".") || Current.IsOp("[")) node = ParseSubscript(node);
            else if (Current.IsOp("(")) node = ParseCall(node);
            else return node;
        }
    }

    Expr ParseFilterExpr(Expr node)
    {
        while (true)
        {
            if (Current.IsOp("|")) node = ParseFilter(node)!;
            else if (Current.IsName("is")) node = ParseTest(node);
            else if (Current.IsOp("(")) node = ParseCall(node);
            else return node;
        }
    }

    Expr ParseSubscript(Expr node)
    {
        var t = Advance();
        if (t.IsOp("."))
        {
            var attr = Advance();
            if (attr.Kind == TokenKind.Name) return new GetAttrExpr(node, attr.Text, t.Line, t.Column);
            if (attr.Kind != TokenKind.Integer) throw Fail("expected name or number", attr);
            return new GetItemExpr(node, new ConstExpr(attr.Value, attr.Line, attr.Column), t.Line, t.Column);
        }
        var args = new List<Expr>();
        while (!Current.IsOp("]"))
        {
            if (args.Count > 0) ExpectOp(",");
            args.Add(ParseSubscribed());
        }
        ExpectOp("]");
        return new GetItemExpr(node, args.Count == 1 ? args[0] : new TupleExpr(args, t.Line, t.Column), t.Line, t.Column);
    }

    Expr ParseSubscribed()
    {
        var start = Current;
        Expr? first = null;
        if (!SkipOp(":"))
        {
            first = ParseExpression();
            if (!SkipOp(":")) return first;
        }
        Expr? stop = Current.IsOp(":") || Current.IsOp("]") || Current.IsOp(",") ? null : ParseExpression();
        Expr? step = null;
        if (SkipOp(":") && !Current.IsOp("]") && !Current.IsOp(",")) step = ParseExpression();
        return new SliceExpr(first, stop, step, start.Line, start.Column);
    }

    Arguments ParseCallArgs()
    {
        var open = ExpectOp("(");
        var args = new List<Expr>();
        var kwargs = new List<(string, Expr)>();
        Expr? spread = null, spreadKeywords = null;
        void Ensure(bool ok)
        {
            if (!ok) throw Fail("invalid syntax for function call expression", open);
        }
        bool requireComma = false;
        while (!Current.IsOp(")"))
        {
            if (requireComma)
            {
                ExpectOp(",");
                if (Current.IsOp(")")) break;
            }
            if (SkipOp("*"))
            {
                Ensure(spread is null && spreadKeywords is null);
                spread = ParseExpression();
            }
            else if (SkipOp("**"))
            {
                Ensure(spreadKeywords is null);
                spreadKeywords = ParseExpression();
            }
            else if (Current.Kind == TokenKind.Name && Peek(1).IsOp("="))
            {
                Ensure(spreadKeywords is null);
                string key = Advance().Text;
                Advance();
                kwargs.Add((key, ParseExpression()));
            }
            else
            {
                Ensure(spread is null && spreadKeywords is null && kwargs.Count == 0);
                args.Add(ParseExpression());
            }
            requireComma = true;
        }
        ExpectOp(")");
        return new Arguments(args, kwargs, spread, spreadKeywords);
    }

    Expr ParseCall(Expr node) => new CallExpr(node, ParseCallArgs(), node.Line, node.Column);

    Expr? ParseFilter(Expr? node, bool startInline = false)
    {
        while (Current.IsOp("|") || startInline)
        {
            if (!startInline) Advance();
            var t = ExpectName();
            string name = DottedName(t);
            var args = Current.IsOp("(") ? ParseCallArgs() : Arguments.None;
            if (!Filters.Exists(name) && !_soft) _unknown.Add(("filter", name, t));
            node = new FilterExpr(node, name, args, t.Line, t.Column);
            startInline = false;
        }
        return node;
    }

    Expr ParseTest(Expr node)
    {
        var isToken = Advance();
        bool negated = SkipName("not");
        var t = ExpectName();
        string name = DottedName(t);
        Arguments args = Arguments.None;
        var c = Current;
        if (c.IsOp("(")) args = ParseCallArgs();
        else if ((c.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float || c.IsOp("[") || c.IsOp("{"))
                 && !c.IsName("else") && !c.IsName("or") && !c.IsName("and"))
        {
            if (c.IsName("is")) throw Fail("You cannot chain multiple tests with is", c);
            args = new Arguments([ParsePostfix(ParsePrimary())], []);
        }
        if (!IsTests.Exists(name) && !_soft) _unknown.Add(("test", name, t));
        Expr test = new TestExpr(node, name, args, isToken.Line, isToken.Column);
        return negated ? new UnaryExpr("not", test, isToken.Line, isToken.Column) : test;
    }

    string DottedName(Token first)
    {
        string name = first.Text;
        while (SkipOp(".")) name += "." + ExpectName().Text;
        return name;
    }
}
