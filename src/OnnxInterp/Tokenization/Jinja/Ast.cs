namespace OnnxInterp.Tokenization.Jinja;

// The syntax tree jinja2's parser builds (jinja2/nodes.py), reduced to what chat templates use.
// Every node keeps the line and column of its first token for error messages.

abstract record Node(int Line, int Column);

// ---- statements ----

sealed record TextNode(string Text, int Line, int Column) : Node(Line, Column);

sealed record OutputNode(Expr Value, int Line, int Column) : Node(Line, Column);

sealed record IfBranch(Expr Test, IReadOnlyList<Node> Body);

sealed record IfNode(IReadOnlyList<IfBranch> Branches, IReadOnlyList<Node> Else, int Line, int Column) : Node(Line, Column);

sealed record ForNode(Expr Target, Expr Iter, Expr? Filter, IReadOnlyList<Node> Body, IReadOnlyList<Node> Else, int Line, int Column)
    : Node(Line, Column);

sealed record SetNode(Expr Target, Expr Value, int Line, int Column) : Node(Line, Column);

/// <summary><c>{% set x | filter %}body{% endset %}</c>; <see cref="Filter"/> has a null value that stands for the body.</summary>
sealed record SetBlockNode(Expr Target, FilterExpr? Filter, IReadOnlyList<Node> Body, int Line, int Column) : Node(Line, Column);

/// <summary>A macro's parameters, and whether its body uses varargs, kwargs or caller (then extra arguments land there).</summary>
sealed record Signature(IReadOnlyList<string> Parameters, IReadOnlyList<Expr?> Defaults, bool Varargs, bool Kwargs, bool Caller);

sealed record MacroNode(string Name, Signature Signature, IReadOnlyList<Node> Body, int Line, int Column) : Node(Line, Column);

/// <summary><c>{% call(params) macro(args) %}body{% endcall %}</c>: calls the macro with <c>caller</c> rendering the body.</summary>
sealed record CallBlockNode(CallExpr Call, Signature Signature, IReadOnlyList<Node> Body, int Line, int Column) : Node(Line, Column);

sealed record WithNode(IReadOnlyList<Expr> Targets, IReadOnlyList<Expr> Values, IReadOnlyList<Node> Body, int Line, int Column) : Node(Line, Column);

/// <summary><c>{% filter name %}body{% endfilter %}</c>.</summary>
sealed record FilterBlockNode(FilterExpr Filter, IReadOnlyList<Node> Body, int Line, int Column) : Node(Line, Column);

/// <summary>transformers' <c>{% generation %}</c> tag: marks assistant text for masks; renders its body unchanged.</summary>
sealed record ScopedBodyNode(IReadOnlyList<Node> Body, int Line, int Column) : Node(Line, Column);

sealed record LoopControlNode(bool IsBreak, int Line, int Column) : Node(Line, Column);

// ---- expressions ----

abstract record Expr(int Line, int Column) : Node(Line, Column);

sealed record ConstExpr(object? Value, int Line, int Column) : Expr(Line, Column);

sealed record NameExpr(string Name, int Line, int Column) : Expr(Line, Column);

/// <summary>An assignment target <c>ns.attr</c> (only in <c>{% set %}</c>).</summary>
sealed record NsRefExpr(string Name, string Attribute, int Line, int Column) : Expr(Line, Column);

sealed record ListExpr(IReadOnlyList<Expr> Items, int Line, int Column) : Expr(Line, Column);

sealed record TupleExpr(IReadOnlyList<Expr> Items, int Line, int Column) : Expr(Line, Column);

sealed record DictExpr(IReadOnlyList<(Expr Key, Expr Value)> Pairs, int Line, int Column) : Expr(Line, Column);

sealed record GetAttrExpr(Expr Target, string Attribute, int Line, int Column) : Expr(Line, Column);

sealed record GetItemExpr(Expr Target, Expr Index, int Line, int Column) : Expr(Line, Column);

sealed record SliceExpr(Expr? Start, Expr? Stop, Expr? Step, int Line, int Column) : Expr(Line, Column);

/// <summary>Call arguments; <see cref="Spread"/> is <c>*list</c> and <see cref="SpreadKeywords"/> is <c>**dict</c>.</summary>
sealed record Arguments(IReadOnlyList<Expr> Positional, IReadOnlyList<(string Name, Expr Value)> Keywords, Expr? Spread = null, Expr? SpreadKeywords = null)
{
    public static readonly Arguments None = new([], []);
}

sealed record CallExpr(Expr Callee, Arguments Args, int Line, int Column) : Expr(Line, Column);

/// <summary><c>value | name(args)</c>; <see cref="Value"/> is null inside filter blocks and set blocks (the body is the value).</summary>
sealed record FilterExpr(Expr? Value, string Name, Arguments Args, int Line, int Column) : Expr(Line, Column);

sealed record TestExpr(Expr Value, string Name, Arguments Args, int Line, int Column) : Expr(Line, Column);

/// <summary>Unary "-", "+" or "not".</summary>
sealed record UnaryExpr(string Op, Expr Operand, int Line, int Column) : Expr(Line, Column);

/// <summary>"+", "-", "*", "/", "//", "%", "**", "and", "or".</summary>
sealed record BinaryExpr(string Op, Expr Left, Expr Right, int Line, int Column) : Expr(Line, Column);

/// <summary><c>a ~ b ~ c</c>.</summary>
sealed record ConcatExpr(IReadOnlyList<Expr> Parts, int Line, int Column) : Expr(Line, Column);

/// <summary>A comparison chain <c>a &lt; b == c</c>; operators "==", "!=", "&lt;", "&lt;=", "&gt;", "&gt;=", "in", "notin".</summary>
sealed record CompareExpr(Expr First, IReadOnlyList<(string Op, Expr Operand)> Rest, int Line, int Column) : Expr(Line, Column);

/// <summary><c>then if test else otherwise</c>; without else an untaken branch is undefined.</summary>
sealed record CondExpr(Expr Test, Expr Then, Expr? Otherwise, int Line, int Column) : Expr(Line, Column);
