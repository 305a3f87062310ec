namespace OnnxInterp;

/// <summary>
/// Base of every error OnnxInterp raises for bad input. <see cref="File"/>, <see cref="Field"/> and
/// <see cref="Value"/> say where the problem is, so a CLI can print them and a pipeline can log them.
/// </summary>
public class OnnxInterpException : Exception
{
    public OnnxInterpException(string message, string? file = null, string? field = null, string? value = null, Exception? inner = null)
        : base(Compose(message, file, field, value), inner)
    {
        File = file;
        Field = field;
        Value = value;
    }

    /// <summary>The file the problem was found in, when there is one.</summary>
    public string? File { get; }

    /// <summary>The tensor, JSON field, column or argument at fault.</summary>
    public string? Field { get; }

    /// <summary>The offending value as text.</summary>
    public string? Value { get; }

    static string Compose(string message, string? file, string? field, string? value)
    {
        var parts = new List<string>(3);
        if (file is not null) parts.Add($"file '{file}'");
        if (field is not null) parts.Add($"field '{field}'");
        if (value is not null) parts.Add($"value '{Truncate(value)}'");
        return parts.Count == 0 ? message : $"{message} ({string.Join(", ", parts)})";
    }

    static string Truncate(string s) => s.Length <= 200 ? s : s[..200] + "...";
}

/// <summary>A file is truncated, malformed, or its internal offsets and sizes do not add up.</summary>
public sealed class InvalidFileException(string message, string? file = null, string? field = null, string? value = null, Exception? inner = null)
    : OnnxInterpException(message, file, field, value, inner);

/// <summary>Files are each well-formed but disagree: a tensor's shape or dtype against config.json, a missing tensor.</summary>
public sealed class ModelMismatchException(string message, string? file = null, string? field = null, string? value = null)
    : OnnxInterpException(message, file, field, value);

/// <summary>An architecture, config value or feature this version does not implement.</summary>
public sealed class UnsupportedModelException(string message, string? file = null, string? field = null, string? value = null)
    : OnnxInterpException(message, file, field, value);

/// <summary>An argument from a caller or the command line is out of its allowed range.</summary>
public sealed class InvalidArgumentException(string message, string? field = null, string? value = null)
    : OnnxInterpException(message, null, field, value);

/// <summary>Two models cannot be compared: they differ in tokenizer, vocabulary or shape.</summary>
public sealed class IncompatibleModelsException(string message, string? file = null, string? field = null, string? value = null)
    : OnnxInterpException(message, file, field, value);

/// <summary>
/// An existing ONNX graph has a node where `onnxinterp hook` expected another pattern (the residual stream, an MLP
/// projection, an attention op); <see cref="Node"/> names it.
/// </summary>
public sealed class UnmappedGraphException(string message, string? file, string node)
    : OnnxInterpException(message, file, "node", node)
{
    public string Node { get; } = node;
}

/// <summary>
/// Shards given to `merge` do not make one run: one is missing, given twice or unfinished, or belongs to another run
/// (its configuration, datasets, models or tool version differ). <see cref="Shard"/> is its index, <see cref="OnnxInterpException.File"/>
/// its shard.json.
/// </summary>
public sealed class ShardMismatchException(string message, int? shard, string? file = null, string? field = null, string? value = null)
    : OnnxInterpException(message, file, field, value)
{
    public int? Shard { get; } = shard;
}
