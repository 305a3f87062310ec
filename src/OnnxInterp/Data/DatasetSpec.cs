using OnnxInterp.Internals;

namespace OnnxInterp.Data;

/// <summary>A statement dataset as configured: synthetic:NAME (the built-in world) or the path of a statement CSV.</summary>
public static class DatasetSpec
{
    public const string SyntheticPrefix = "synthetic:";

    public static bool IsSynthetic(string spec) => spec.StartsWith(SyntheticPrefix, StringComparison.Ordinal);

    /// <summary>The part id of a dataset spec: the synthetic dataset's name, or the CSV's file name without extension.</summary>
    public static string Id(string spec) => IsSynthetic(spec) ? spec[SyntheticPrefix.Length..] : Path.GetFileNameWithoutExtension(spec);

    /// <summary>Throws naming the spec when it is neither a known synthetic dataset nor an existing file.</summary>
    public static void Check(string spec)
    {
        if (IsSynthetic(spec))
        {
            var name = spec[SyntheticPrefix.Length..];
            if (!SyntheticWorld.StatementDatasets.Contains(name))
                Throw.Argument($"unknown synthetic dataset; known: {string.Join(", ", SyntheticWorld.StatementDatasets.Select(d => SyntheticPrefix + d))}", "datasets", spec);
        }
        else if (!File.Exists(spec))
        {
            Throw.Argument("dataset file does not exist (give a statement CSV or synthetic:NAME)", "datasets", spec);
        }
    }
}
