namespace OnnxInterp.Internals;

/// <summary>
/// Where an ONNX file we did not write keeps a tensor's external data. The location must be a plain relative path
/// inside the model's folder: absolute paths, ".." segments and anything resolving outside are refused, so a graph
/// cannot make us read (or copy) arbitrary files.
/// </summary>
static class ExternalDataPath
{
    /// <summary>The full path of <paramref name="location"/> inside <paramref name="modelDirectory"/>; <paramref name="modelFile"/> is named in errors.</summary>
    public static string Resolve(string modelDirectory, string location, string modelFile)
    {
        bool bad = string.IsNullOrWhiteSpace(location) || Path.IsPathRooted(location) || location.Contains('\\') || location.Contains(':')
            || location.Split('/').Any(part => part is ".." or "");
        var root = Path.GetFullPath(modelDirectory).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        var full = bad ? "" : Path.GetFullPath(Path.Combine(root, location));
        if (bad || !full.StartsWith(root, StringComparison.Ordinal))
            Throw.InvalidFile("external data must be a relative path inside the model folder", modelFile, "external_data.location", location);
        return full;
    }
}
