using System.Text;

namespace OnnxInterp.Tokenization.Jinja;

/// <summary>
/// Variables, with jinja's scoping: each for-loop iteration, macro call, with block and set block gets its own scope,
/// so a <c>{% set %}</c> inside a loop is gone after it (hence namespace()); an if statement shares its scope.
/// </summary>
sealed class Scope(Scope? parent)
{
    readonly Dictionary<string, object?> _vars = new(StringComparer.Ordinal);

    public bool TryGet(string name, out object? value)
    {
        for (var s = this; s is not null; s = s.Parent)
            if (s._vars.TryGetValue(name, out value)) return true;
        value = null;
        return false;
    }

    public Scope? Parent { get; } = parent;

    public void Set(string name, object? value) => _vars[name] = value;
}

/// <summary>Executes a parsed template: statements append to the output, expressions evaluate to Python-like values.</summary>
sealed class Renderer
{
    enum Flow { Normal, Break, Continue }

    const int MaxMacroDepth = 64;
    const int MaxOutput = 1 << 26;
    int _macroDepth;

    public void Render(IReadOnlyList<Node> body, Scope scope, StringBuilder output) => Exec(body, scope, output);

    Flow Exec(IReadOnlyList<Node> body, Scope scope, StringBuilder sb)
    {
        foreach (var node in body)
        {
            var flow = ExecOne(node, scope, sb);
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    Flow ExecOne(Node node, Scope scope, StringBuilder sb)
    {
        try
        {
            switch (node)
            {
                case TextNode t: Append(sb, t.Text); break;
                case OutputNode o: Append(sb, Py.Str(Eval(o.Value, scope))); break;
                case IfNode i:
                    foreach (var branch in i.Branches)
                        if (Py.Truthy(Eval(branch.Test, scope))) return Exec(branch.Body, scope, sb);
                    return Exec(i.Else, scope, sb);
                case ForNode f: ExecFor(f, scope, sb); break;
                case SetNode s: Assign(s.Target, Eval(s.Value, scope), scope); break;
                case SetBlockNode s:
                    var text = new StringBuilder();
                    Exec(s.Body, new Scope(scope), text);
                    Assign(s.Target, s.Filter is null ? text.ToString() : EvalFilter(s.Filter, scope, text.ToString()), scope);
                    break;
                case MacroNode m: scope.Set(m.Name, Macro(m.Name, m.Signature, m.Body, scope)); break;
                case CallBlockNode cb:
                    var callee = Eval(cb.Call.Callee, scope);
                    var args = EvalArgs(cb.Call.Args, scope);
                    var withCaller = new CallArgs(args.Positional, [.. args.Keywords, ("caller", Macro("caller", cb.Signature, cb.Body, scope))]);
                    Append(sb, Py.Str(Invoke(callee, withCaller)));
                    break;
                case WithNode w:
                    var values = w.Values.Select(v => Eval(v, scope)).ToList();
                    var inner = new Scope(scope);
                    for (int k = 0; k < values.Count; k++) Assign(w.Targets[k], values[k], inner);
                    return Exec(w.Body, inner, sb);
                case FilterBlockNode fb:
                    var body = new StringBuilder();
                    Exec(fb.Body, new Scope(scope), body);
                    Append(sb, Py.Str(EvalFilter(fb.Filter, scope, body.ToString())));
                    break;
                case ScopedBodyNode g: return Exec(g.Body, new Scope(scope), sb);
                case LoopControlNode lc: return lc.IsBreak ? Flow.Break : Flow.Continue;
                default: throw new JinjaRuntimeError($"cannot execute {node.GetType().Name}");
            }
            return Flow.Normal;
        }
        catch (JinjaRuntimeError e)
        {
            throw At(e, node);
        }
    }

    static JinjaException At(JinjaRuntimeError e, Node node) =>
        new(e.Raised ? JinjaErrorKind.Raised : JinjaErrorKind.Render, e.Message, node.Line, node.Column);

    static void Append(StringBuilder sb, string text)
    {
        if (sb.Length + (long)text.Length > MaxOutput) throw new JinjaRuntimeError($"the rendered text would exceed {MaxOutput} characters");
        sb.Append(text);
    }

    void ExecFor(ForNode f, Scope scope, StringBuilder sb)
    {
        var items = Py.Iterate(Eval(f.Iter, scope));
        if (f.Filter is not null)
            items = items.Where(item =>
            {
                var test = new Scope(scope);
                Assign(f.Target, item, test);
                return Py.Truthy(Eval(f.Filter, test));
            }).ToList();
        if (items.Count == 0)
        {
            Exec(f.Else, new Scope(scope), sb);
            return;
        }
        var loop = new LoopContext(items);
        for (int i = 0; i < items.Count; i++)
        {
            loop.Index0 = i;
            var iteration = new Scope(scope);
            iteration.Set("loop", loop);
            Assign(f.Target, items[i], iteration);
            if (Exec(f.Body, iteration, sb) == Flow.Break) break;
        }
    }

    void Assign(Expr target, object? value, Scope scope)
    {
        switch (target)
        {
            case NameExpr n:
                scope.Set(n.Name, value);
                break;
            case TupleExpr t:
                var items = Py.Iterate(value);
                if (items.Count != t.Items.Count)
                    throw new JinjaRuntimeError(items.Count > t.Items.Count
                        ? $"too many values to unpack (expected {t.Items.Count})"
                        : $"not enough values to unpack (expected {t.Items.Count}, got {items.Count})");
                for (int i = 0; i < items.Count; i++) Assign(t.Items[i], items[i], scope);
                break;
            case NsRefExpr ns:
                if (!scope.TryGet(ns.Name, out var obj) || obj is not Namespace target2)
                    throw new JinjaRuntimeError("cannot assign attribute on non-namespace object");
                target2.Attributes[ns.Attribute] = value;
                break;
            default:
                throw new JinjaRuntimeError("cannot assign to this target");
        }
    }

    /// <summary>
    /// A macro (or a call block's caller): arguments bind to its parameters as jinja binds them; extra positionals go to
    /// <c>varargs</c>, unknown keywords to <c>kwargs</c>, and a <c>caller</c> keyword to <c>caller</c>, where the body uses them.
    /// </summary>
    Callable Macro(string name, Signature sig, IReadOnlyList<Node> body, Scope definedIn) => new(name, args =>
    {
        var parameters = sig.Parameters;
        if (args.Positional.Count > parameters.Count && !sig.Varargs)
            throw new JinjaRuntimeError($"macro '{name}' takes not more than {parameters.Count} argument(s)");
        if (++_macroDepth > MaxMacroDepth) throw new JinjaRuntimeError($"macro calls nest deeper than {MaxMacroDepth}");
        try
        {
            var scope = new Scope(definedIn);
            var given = new object?[parameters.Count];
            Array.Fill(given, CallArgs.Missing);
            for (int i = 0; i < Math.Min(args.Positional.Count, parameters.Count); i++) given[i] = args.Positional[i];
            var kwargs = new JinjaDict();
            object? caller = new Undefined("No caller defined");
            foreach (var (key, value) in args.Keywords)
            {
                int i = IndexOf(parameters, key);
                if (i >= 0)
                {
                    if (given[i] != CallArgs.Missing) throw new JinjaRuntimeError($"macro '{name}' got multiple values for argument '{key}'");
                    given[i] = value;
                }
                else if (key == "caller" && sig.Caller) caller = value;
                else if (sig.Kwargs) kwargs.Set(key, value);
                else throw new JinjaRuntimeError($"macro '{name}' takes no keyword argument '{key}'");
            }
            for (int i = 0; i < given.Length; i++)
            {
                var value = given[i] != CallArgs.Missing ? given[i]
                    : sig.Defaults[i] is { } d ? Eval(d, scope)
                    : new Undefined($"parameter '{parameters[i]}' was not provided");
                scope.Set(parameters[i], value);
            }
            if (sig.Varargs) scope.Set("varargs", args.Positional.Skip(parameters.Count).ToArray());
            if (sig.Kwargs) scope.Set("kwargs", kwargs);
            if (sig.Caller) scope.Set("caller", caller);
            var sb = new StringBuilder();
            Exec(body, scope, sb);
            return sb.ToString();
        }
        finally
        {
            _macroDepth--;
        }
    });

    static int IndexOf(IReadOnlyList<string> names, string name)
    {
        for (int i = 0; i < names.Count; i++)
            if (names[i] == name) return i;
        return -1;
    }

    object? Eval(Expr e, Scope scope)
    {
        try
        {
            return EvalCore(e, scope);
        }
        catch (JinjaRuntimeError ex)
        {
            throw At(ex, e);
        }
        catch (OverflowException)
        {
            throw At(new JinjaRuntimeError("integer overflow"), e);
        }
    }

    object? EvalCore(Expr e, Scope scope)
    {
        switch (e)
        {
            case ConstExpr c: return c.Value;
            case NameExpr n: return scope.TryGet(n.Name, out var v) ? v : Undefined.Variable(n.Name);
            case ListExpr l: return l.Items.Select(i => Eval(i, scope)).ToList();
            case TupleExpr t: return t.Items.Select(i => Eval(i, scope)).ToArray();
            case DictExpr d:
                var dict = new JinjaDict();
                foreach (var (k, val) in d.Pairs) dict.Set(Eval(k, scope), Eval(val, scope));
                return dict;
            case GetAttrExpr ga: return Access.GetAttribute(Eval(ga.Target, scope), ga.Attribute);
            case GetItemExpr gi:
                var target = Eval(gi.Target, scope);
                if (gi.Index is SliceExpr s)
                    return Access.Slice(target, Opt(s.Start, scope), Opt(s.Stop, scope), Opt(s.Step, scope));
                return Access.GetItem(target, Eval(gi.Index, scope));
            case CallExpr call:
                return Invoke(Eval(call.Callee, scope), EvalArgs(call.Args, scope));
            case FilterExpr f: return EvalFilter(f, scope, null);
            case TestExpr t: return IsTests.Apply(t.Name, Eval(t.Value, scope), EvalArgs(t.Args, scope));
            case UnaryExpr u:
                var operand = Eval(u.Operand, scope);
                return u.Op switch { "not" => !Py.Truthy(operand), "-" => Py.Negate(operand), _ => Py.Plus(operand) };
            case BinaryExpr { Op: "and" } and:
                var left = Eval(and.Left, scope);
                return Py.Truthy(left) ? Eval(and.Right, scope) : left;
            case BinaryExpr { Op: "or" } or:
                var first = Eval(or.Left, scope);
                return Py.Truthy(first) ? first : Eval(or.Right, scope);
            case BinaryExpr b: return Py.Binary(b.Op, Eval(b.Left, scope), Eval(b.Right, scope));
            case ConcatExpr cc: return string.Concat(cc.Parts.Select(p => Py.Str(Eval(p, scope))));
            case CompareExpr cmp:
                var current = Eval(cmp.First, scope);
                foreach (var (op, operandExpr) in cmp.Rest)
                {
                    var next = Eval(operandExpr, scope);
                    if (!Py.Compare(op, current, next)) return false;
                    current = next;
                }
                return true;
            case CondExpr ce:
                if (Py.Truthy(Eval(ce.Test, scope))) return Eval(ce.Then, scope);
                return ce.Otherwise is null
                    ? new Undefined($"the inline if-expression on line {ce.Line} evaluated to false and no else section was defined.")
                    : Eval(ce.Otherwise, scope);
            default:
                throw new JinjaRuntimeError($"cannot evaluate {e.GetType().Name}");
        }
    }

    static object? Invoke(object? callee, CallArgs args) => callee switch
    {
        Callable fn => fn.Invoke(args),
        Undefined u => throw u.Error(),
        _ => throw new JinjaRuntimeError($"'{Py.TypeName(callee)}' object is not callable"),
    };

    object? Opt(Expr? e, Scope scope) => e is null ? null : Eval(e, scope);

    /// <summary>A filter chain; the innermost filter with no value takes <paramref name="body"/> (filter and set blocks).</summary>
    object? EvalFilter(FilterExpr f, Scope scope, string? body)
    {
        try
        {
            object? value = f.Value switch
            {
                null => body,
                FilterExpr inner => EvalFilter(inner, scope, body),
                var expr => Eval(expr, scope),
            };
            return Filters.Apply(f.Name, value, EvalArgs(f.Args, scope));
        }
        catch (JinjaRuntimeError ex)
        {
            throw At(ex, f);
        }
    }

    CallArgs EvalArgs(Arguments args, Scope scope)
    {
        if (args.Positional.Count == 0 && args.Keywords.Count == 0 && args.Spread is null && args.SpreadKeywords is null) return CallArgs.Empty;
        var positional = args.Positional.Select(a => Eval(a, scope)).ToList();
        var keywords = args.Keywords.Select(k => (k.Name, Eval(k.Value, scope))).ToList();
        if (args.Spread is not null) positional.AddRange(Py.Iterate(Eval(args.Spread, scope)));
        if (args.SpreadKeywords is not null)
        {
            if (Eval(args.SpreadKeywords, scope) is not JinjaDict d) throw new JinjaRuntimeError("argument after ** must be a mapping");
            foreach (var (k, v) in d.Items)
                keywords.Add((k as string ?? throw new JinjaRuntimeError("keywords must be strings"), v));
        }
        return new CallArgs(positional, keywords);
    }
}
