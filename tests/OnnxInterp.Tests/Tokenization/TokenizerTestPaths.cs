namespace OnnxInterp.Tests.Tokenization;

/// <summary>Where the tokenizer tests find the repository, its goldens and ../shared/tokenizers.</summary>
static class TokenizerTestPaths
{
    static readonly Lazy<string?> s_repoRoot = new(() =>
    {
        for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "OnnxInterp.sln"))) return dir.FullName;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "OnnxInterp.sln"))) return dir.FullName;
        return null;
    });

    public static string RepoRoot => s_repoRoot.Value ?? throw new InvalidOperationException("OnnxInterp.sln not found above the test directory");

    public static string GoldenDir => Path.Combine(RepoRoot, "tests", "OnnxInterp.Tests", "Goldens", "tokenizers");

    /// <summary>../shared/tokenizers beside the repository (CI lays it there).</summary>
    public static string SharedTokenizers => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "tokenizers"));

    /// <summary>The shared tokenizer folder <paramref name="name"/>; the test is Ignored when it is missing.</summary>
    public static string RequireShared(string name)
    {
        string dir = Path.Combine(SharedTokenizers, name);
        if (!File.Exists(Path.Combine(dir, "tokenizer.json")))
            Assert.Ignore($"Shared tokenizer files not found at {dir}");
        return dir;
    }
}
