using OnnxInterp.Checkpoints;
using OnnxInterp.Tests.Tokenization;

namespace OnnxInterp.Tests.Analysis.Paper;

/// <summary>The real inputs in ../shared (the paper's datasets, real tokenizers). CI lays ../shared beside the clone, so a missing file fails.</summary>
static class PaperInputs
{
    public static string Datasets => Path.GetFullPath(Path.Combine(TokenizerTestPaths.RepoRoot, "..", "shared", "datasets", "paper"));

    public static string Dataset(string name)
    {
        var path = Path.Combine(Datasets, name);
        Assert.That(File.Exists(path), Is.True, $"the paper's dataset {path} is missing (../shared/datasets/paper)");
        return path;
    }

    public static string Tokenizer(string name)
    {
        var dir = Path.Combine(TokenizerTestPaths.SharedTokenizers, name);
        Assert.That(File.Exists(Path.Combine(dir, "tokenizer.json")), Is.True, $"the real tokenizer {dir} is missing (../shared/tokenizers)");
        return dir;
    }

    /// <summary>A tiny random Llama checkpoint (hidden 32, 2 layers, 2/1 heads) whose vocabulary and tokenizer are the real <paramref name="tokenizer"/>'s.</summary>
    public static void WriteTinyCheckpoint(string directory, string tokenizer, int seed) =>
        RandomCheckpoint.Write(directory, new RandomCheckpointSpec
        {
            HiddenSize = 32, IntermediateSize = 64, Layers = 2, Heads = 2, KvHeads = 1, Seed = seed, TokenizerDirectory = Tokenizer(tokenizer),
        });
}
