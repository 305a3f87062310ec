using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using OnnxInterp.Export;

namespace OnnxInterp.Tests.Support;

/// <summary>
/// The embedded tiny family (models/base, models/sft, models/instruct) for end-to-end tests. Until it is committed,
/// ONNXINTERP_FAMILY may point at a folder holding a family trained by tools/OnnxInterp.Trainer; with neither, the
/// test is ignored (not passed). Each member is exported once per test run and shared, read-only, by every test.
/// </summary>
public static class ShippedFamily
{
    public static readonly string[] Members = ["base", "sft", "instruct"];

    static readonly ConcurrentDictionary<string, Lazy<string>> Exports = new();
    static readonly string ExportRoot = Path.Combine(Path.GetTempPath(), "onnxinterp-tests-family-" + Guid.NewGuid().ToString("N"));

    static ShippedFamily() =>
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { if (Directory.Exists(ExportRoot)) Directory.Delete(ExportRoot, recursive: true); }
            catch (IOException) { }
        };

    public static string RepositoryRoot
    {
        get
        {
            var dir = TestContext.CurrentContext.TestDirectory;
            while (dir is not null && !File.Exists(Path.Combine(dir, "OnnxInterp.sln"))) dir = Path.GetDirectoryName(dir);
            return dir ?? throw new DirectoryNotFoundException("repository root (OnnxInterp.sln) above " + TestContext.CurrentContext.TestDirectory);
        }
    }

    /// <summary>The folder holding base/, sft/ and instruct/, or null when no family is available.</summary>
    public static string? Root
    {
        get
        {
            var models = Path.Combine(RepositoryRoot, "models");
            if (Directory.Exists(Path.Combine(models, "instruct"))) return models;
            var env = Environment.GetEnvironmentVariable("ONNXINTERP_FAMILY");
            return env is { Length: > 0 } && Directory.Exists(Path.Combine(env, "instruct")) ? env : null;
        }
    }

    /// <summary>The family's root folder; ignores the calling test when there is none.</summary>
    public static string RequireRoot()
    {
        var root = Root;
        if (root is null) Assert.Ignore("the model family is not shipped in models/ yet and ONNXINTERP_FAMILY is not set");
        return root!;
    }

    /// <summary>A member's Hugging Face checkpoint folder.</summary>
    public static string Checkpoint(string member) => Path.Combine(RequireRoot(), member);

    /// <summary>A member exported with hook I/O (exported on first use, then shared).</summary>
    public static string Exported(string member)
    {
        var source = Checkpoint(member);
        return Exports.GetOrAdd(member, m => new Lazy<string>(() =>
        {
            var dir = Path.Combine(ExportRoot, m);
            ModelExporter.Export(source, dir, new ExportOptions { HashSource = false });
            return dir;
        }, LazyThreadSafetyMode.ExecutionAndPublication)).Value;
    }

    /// <summary>The chat template a member was tuned with (tokenizer_config.json's onnxinterp_chat_template).</summary>
    public static string ChatTemplate(string member)
    {
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(Checkpoint(member), "tokenizer_config.json")));
        return cfg?["onnxinterp_chat_template"]?.GetValue<string>() ?? "plain";
    }
}
