using CsCheck;

namespace OnnxInterp.Fuzz;

/// <summary>
/// One fuzzed input: the seed folder it starts from, the file (relative to the folder) replaced by <see cref="Bytes"/>,
/// and optionally an extra change to the folder (e.g. a symbolic link). <see cref="MustReject"/> marks inputs the
/// reader must refuse (an external-data path escaping the folder): accepting one is a failure, not a pass.
/// </summary>
public sealed record Mutant(int Seed, string File, string Kind, byte[] Bytes, Action<string>? Extra = null, bool MustReject = false)
{
    public override string ToString() => $"seed {Seed} {File}: {Kind} ({Bytes.Length} bytes)";
}

/// <summary>A seed: a folder of valid files a reader accepts, written once per run.</summary>
public sealed record FuzzSeed(string Name, Action<string> Write);

/// <summary>
/// A reader of untrusted files under fuzz: valid seed folders, a generator of mutants (structure-aware edits of one
/// field and raw byte damage), and the read itself (the reader plus a touch of use, e.g. encode a string).
/// </summary>
public sealed class FuzzTarget
{
    public required string Name { get; init; }
    public required string Description { get; init; }
    public required IReadOnlyList<FuzzSeed> Seeds { get; init; }

    /// <summary>Mutants of the written seed folders (index i is <see cref="Seeds"/>[i]).</summary>
    public required Func<IReadOnlyList<string>, Gen<Mutant>> Mutants { get; init; }

    /// <summary>
    /// Reads the folder with the reader under test and returns what it opened (disposed by the runner when it is
    /// <see cref="IDisposable"/>). Its managed allocation is what the allocation bound applies to.
    /// </summary>
    public required Func<string, object?> Read { get; init; }

    /// <summary>
    /// Uses what <see cref="Read"/> returned (encode a string, run the model, read rows): it must throw nothing but typed
    /// errors and finish in time, but its allocation is not bounded by the input's size (a normalizer may legitimately
    /// grow text, a model's activations are as large as its config says).
    /// </summary>
    public Action<object>? Use { get; init; }

    public override string ToString() => Name;
}
