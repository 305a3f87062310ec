using CsCheck;
using OnnxInterp.Checkpoints;
using OnnxInterp.Data;
using OnnxInterp.Export;
using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Fuzz;

/// <summary>Every reader of untrusted files, as a fuzz target.</summary>
public static class Targets
{
    const string Sample = "Hello wörld! The city of Paris is in France. 12345 <|begin_of_text|> user  [CLS] 😀\tend";

    static void UseTokenizer(object tokenizer)
    {
        var t = (HfTokenizer)tokenizer;
        var ids = t.Encode(Sample);
        t.Decode(ids);
        t.Decode(ids, skipSpecialTokens: true);
        t.EncodeToTokens("the cities", addSpecialTokens: false);
    }

    static Gen<Mutant> Join(params Gen<Mutant>[] gens) => Gen.OneOf(gens);

    public static readonly FuzzTarget TokenizerJson = new()
    {
        Name = "tokenizer.json",
        Description = "HfTokenizer.FromDirectory, then encode and decode a string",
        Seeds = [new("byte-level", Seeds.ByteLevelTokenizer), new("sentencepiece", Seeds.SentencePieceTokenizer), new("metaspace", Seeds.MetaspaceTokenizer)],
        Mutants = dirs => Join(dirs.Select((d, i) => Mutations.Of(i, d, "tokenizer.json", (4, Mutations.Json), (1, Mutations.Raw))).ToArray()),
        Read = HfTokenizer.FromDirectory,
        Use = UseTokenizer,
    };

    public static readonly FuzzTarget TokenizerConfig = new()
    {
        Name = "tokenizer_config.json",
        Description = "tokenizer_config.json and generation_config.json beside a valid tokenizer.json",
        Seeds = TokenizerJson.Seeds,
        Mutants = dirs => Join(
            Mutations.Of(0, dirs[0], "tokenizer_config.json", (4, Mutations.Json), (1, Mutations.Raw)),
            Mutations.Of(0, dirs[0], "generation_config.json", (4, Mutations.Json), (1, Mutations.Raw)),
            Mutations.Of(1, dirs[1], "tokenizer_config.json", (4, Mutations.Json), (1, Mutations.Raw)),
            Mutations.Of(2, dirs[2], "tokenizer_config.json", (4, Mutations.Json), (1, Mutations.Raw))),
        Read = HfTokenizer.FromDirectory,
        Use = UseTokenizer,
    };

    public static readonly FuzzTarget Dataset = new()
    {
        Name = "dataset.csv",
        Description = "StatementDataset.Read",
        Seeds = [new("paper-style", Seeds.Dataset), new("written", Seeds.WrittenDataset)],
        Mutants = dirs => Join(dirs.Select((d, i) => Mutations.Of(i, d, "cities.csv", (4, Mutations.Csv), (1, Mutations.Raw))).ToArray()),
        Read = dir => StatementDataset.Read(Path.Combine(dir, "cities.csv")),
    };

    static void UseStore(object store)
    {
        var s = (ActivationStoreReader)store;
        foreach (var t in s.Tensors) s.ReadRows(t.Name, 0, (int)Math.Min(s.Rows, 4));
        foreach (var (k, v) in s.Metadata) _ = k.Length + v.Length;
    }

    public static readonly FuzzTarget NpyStore = new()
    {
        Name = "activations.npy",
        Description = "ActivationStoreReader.Open on a folder of .npy files and metadata.json (NpyFile), then read every row",
        Seeds = [new("npy-f32", Seeds.NpyStore)],
        Mutants = dirs => Join(
            Mutations.Of(0, dirs[0], "store/blocks.0.hook_resid_post.npy", (3, Mutations.Npy), (2, Mutations.Raw)),
            Mutations.Of(0, dirs[0], "store/blocks.1.mlp.hook_post.npy", (3, Mutations.Npy), (2, Mutations.Raw)),
            Mutations.Of(0, dirs[0], "store/metadata.json", (3, Mutations.Json), (1, Mutations.Raw))),
        Read = dir => ActivationStoreReader.Open(Path.Combine(dir, "store")),
        Use = UseStore,
    };

    public static readonly FuzzTarget SafetensorsStore = new()
    {
        Name = "activations.safetensors",
        Description = "ActivationStoreReader.Open on a safetensors store, then read every row",
        Seeds = [new("safetensors-f16", Seeds.SafetensorsStore)],
        Mutants = dirs => Mutations.Of(0, dirs[0], "store.safetensors", (3, Mutations.SafetensorsHeader), (2, Mutations.Raw)),
        Read = dir => ActivationStoreReader.Open(Path.Combine(dir, "store.safetensors")),
        Use = UseStore,
    };

    static void UseCheckpoint(object checkpoint)
    {
        var c = (HfCheckpoint)checkpoint;
        foreach (var name in c.TensorNames.Take(3)) c.ReadFloat32(name);
    }

    public static readonly FuzzTarget Checkpoint = new()
    {
        Name = "checkpoint",
        Description = "HfCheckpoint.Open: config.json, model.safetensors(.index.json) and shards; reads three tensors",
        Seeds = [new("single", Seeds.Checkpoint), new("sharded-bf16", Seeds.ShardedCheckpoint)],
        Mutants = dirs => Join(
            Mutations.Of(0, dirs[0], "config.json", (4, Mutations.Json), (1, Mutations.Raw)),
            Mutations.Of(0, dirs[0], "model.safetensors", (3, Mutations.SafetensorsHeader), (2, Mutations.Raw)),
            Mutations.Of(1, dirs[1], "config.json", (4, Mutations.Json), (1, Mutations.Raw)),
            Mutations.Of(1, dirs[1], "model.safetensors.index.json", (4, Mutations.Json), (1, Mutations.Raw)),
            Mutations.Of(1, dirs[1], "model-00001-of-00002.safetensors", (3, Mutations.SafetensorsHeader), (2, Mutations.Raw))),
        Read = HfCheckpoint.Open,
        Use = UseCheckpoint,
    };

    public static readonly FuzzTarget Manifest = new()
    {
        Name = "manifest.json",
        Description = "ModelManifest.Read",
        Seeds = [new("export-fp32", d => Seeds.Export(d, ExportDType.Fp32))],
        Mutants = dirs => Mutations.Of(0, dirs[0], ModelManifest.FileName, (4, Mutations.Json), (1, Mutations.Raw)),
        Read = dir => ModelManifest.Read(dir),
    };

    static void UseModel(object session)
    {
        var s = (ModelSession)session;
        s.Run(new ForwardRequest([[1, 2, 3]]) { Hooks = ["*"], LogitPositions = [-1] });
    }

    public static readonly FuzzTarget Onnx = new()
    {
        Name = "model.onnx",
        Description = "ModelSession.Open (external-data check, ONNX Runtime load, manifest against graph) and a 3-token run capturing every hook",
        Seeds = [new("export-fp32", d => Seeds.Export(d, ExportDType.Fp32)), new("export-fp16", d => Seeds.Export(d, ExportDType.Fp16))],
        Mutants = dirs => Gen.Frequency<Mutant>(
            (6, Gen.OneOf(OnnxMutations.Of(0, dirs[0]), OnnxMutations.Of(1, dirs[1]))),
            (2, Mutations.Of(0, dirs[0], ModelManifest.FileName, (1, Mutations.Json))),
            (1, Mutations.Of(0, dirs[0], "model.onnx.data", (1, Truncate)))),
        Read = dir => ModelSession.Open(dir, new SessionConfig { Threads = 1 }),
        Use = UseModel,
    };

    static (string, byte[]) Truncate(byte[] seed, Random rng)
    {
        int at = rng.Next(seed.Length);
        return ($"truncate at {at}", seed[..at]);
    }

    public static readonly IReadOnlyList<FuzzTarget> All = [TokenizerJson, TokenizerConfig, Dataset, NpyStore, SafetensorsStore, Checkpoint, Manifest, Onnx];
}
