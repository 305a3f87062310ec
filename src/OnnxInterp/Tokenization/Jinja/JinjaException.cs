namespace OnnxInterp.Tokenization.Jinja;

/// <summary>How a jinja template failed.</summary>
public enum JinjaErrorKind
{
    /// <summary>The source does not parse, or uses a filter, test or tag this interpreter does not have.</summary>
    Syntax,
    /// <summary>Rendering failed: an undefined value used as a value, a type error, a missing filter in a branch taken.</summary>
    Render,
    /// <summary>The template called <c>raise_exception(message)</c>: it refuses the input (as transformers' TemplateError).</summary>
    Raised,
}

/// <summary>
/// A jinja template failed to parse or to render. <see cref="Line"/> and <see cref="Column"/> (1-based) point into the
/// template source after jinja's newline normalisation; <see cref="Reason"/> is the message without the position.
/// </summary>
public sealed class JinjaException : OnnxInterpException
{
    internal JinjaException(JinjaErrorKind kind, string reason, int line, int column)
        : base($"{reason} (template line {line}, column {column})")
    {
        Kind = kind;
        Reason = reason;
        Line = line;
        Column = column;
    }

    public JinjaErrorKind Kind { get; }

    public string Reason { get; }

    public int Line { get; }

    public int Column { get; }
}

/// <summary>
/// A failure inside a value operation, which does not know where in the template it is; the renderer turns it into a
/// <see cref="JinjaException"/> at the innermost expression or statement that was being evaluated.
/// </summary>
sealed class JinjaRuntimeError(string message, bool raised = false) : Exception(message)
{
    public bool Raised { get; } = raised;
}
