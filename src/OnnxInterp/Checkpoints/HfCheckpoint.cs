using System.Security.Cryptography;
using System.Text.Json;
using OnnxInterp.Internals;

namespace OnnxInterp.Checkpoints;

/// <summary>
/// A Hugging Face checkpoint folder: config.json, one or more .safetensors files (sharded through
/// model.safetensors.index.json, or a single model.safetensors), tokenizer files. Opening validates the config
/// and that every tensor the architecture needs is present with the shape the config implies.
/// Owns the open safetensors files; dispose it to release them.
/// </summary>
public sealed class HfCheckpoint : IDisposable
{
    public const string ConfigFile = "config.json";
    public const string IndexFile = "model.safetensors.index.json";
    public const string SingleFile = "model.safetensors";

    /// <summary>Files copied next to an exported model so it stays self-contained.</summary>
    public static readonly string[] TokenizerFiles =
        ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model", "generation_config.json", "chat_template.jinja"];

    readonly List<SafetensorsFile> _files;
    readonly Dictionary<string, (SafetensorsFile File, TensorInfo Info)> _index;

    HfCheckpoint(string dir, ModelConfig config, List<SafetensorsFile> files, Dictionary<string, (SafetensorsFile, TensorInfo)> index)
    {
        Directory = dir;
        Config = config;
        _files = files;
        _index = index;
    }

    public string Directory { get; }
    public ModelConfig Config { get; }
    public IReadOnlyList<SafetensorsFile> Files => _files;
    public IEnumerable<string> TensorNames => _index.Keys;

    public static HfCheckpoint Open(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
            throw new InvalidArgumentException("checkpoint folder does not exist", "checkpoint", directory);
        var configPath = Path.Combine(directory, ConfigFile);
        if (!File.Exists(configPath)) Throw.InvalidFile("checkpoint folder has no config.json", configPath);
        var config = ModelConfigReader.ReadFile(configPath);

        var files = new List<SafetensorsFile>();
        try
        {
            var index = new Dictionary<string, (SafetensorsFile, TensorInfo)>(StringComparer.Ordinal);
            foreach (var path in ShardPaths(directory))
            {
                var f = SafetensorsFile.Open(path);
                files.Add(f);
                foreach (var t in f.Tensors)
                {
                    if (!index.TryAdd(t.Name, (f, t)))
                        Throw.InvalidFile("tensor appears in two shards", path, t.Name, index[t.Name].Item1.Path);
                }
            }
            var ckpt = new HfCheckpoint(directory, config, files, index);
            ckpt.Validate(configPath);
            return ckpt;
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    static IReadOnlyList<string> ShardPaths(string dir)
    {
        var indexPath = Path.Combine(dir, IndexFile);
        if (File.Exists(indexPath))
        {
            using var doc = ParseJson(indexPath);
            JsonElement map = default;
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out map) || map.ValueKind != JsonValueKind.Object)
                Throw.InvalidFile("index has no weight_map object", indexPath, "weight_map");
            var shards = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var p in map.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String) Throw.InvalidFile("shard name must be a string", indexPath, "weight_map." + p.Name);
                var shard = p.Value.GetString()!;
                if (shard.Length == 0 || Path.IsPathRooted(shard) || shard.Contains("..") || shard.Contains('/') || shard.Contains('\\'))
                    Throw.InvalidFile("shard must be a plain file name in the checkpoint folder", indexPath, "weight_map." + p.Name, shard);
                shards.Add(shard);
            }
            var paths = shards.Select(s => Path.Combine(dir, s)).ToList();
            foreach (var p in paths)
                if (!File.Exists(p)) Throw.InvalidFile("index names a shard that does not exist", indexPath, "weight_map", Path.GetFileName(p));
            return paths;
        }
        var single = Path.Combine(dir, SingleFile);
        if (File.Exists(single)) return [single];
        var any = System.IO.Directory.GetFiles(dir, "*.safetensors").Order(StringComparer.Ordinal).ToList();
        if (any.Count == 0) Throw.InvalidFile("checkpoint folder has no .safetensors file (pytorch .bin files are not read)", dir, "*.safetensors");
        return any;
    }

    static JsonDocument ParseJson(string path)
    {
        try { return JsonDocument.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidFileException($"not valid JSON: {e.Message}", path, inner: e); }
    }

    void Validate(string configPath)
    {
        foreach (var (name, shape) in WeightNames.Expected(Config))
        {
            if (!_index.TryGetValue(name, out var hit))
                Throw.Mismatch($"tensor required by {Config.Architecture} is missing", Directory, name);
            var info = hit.Info;
            if (!info.DType.IsFloating())
                Throw.Mismatch("weight tensor is not floating point", hit.File.Path, name, info.DType);
            if (!info.Shape.AsSpan().SequenceEqual(shape))
                Throw.Mismatch($"shape disagrees with {Path.GetFileName(configPath)} (expected [{string.Join(",", shape)}])",
                    hit.File.Path, name, info.ShapeText);
        }
    }

    public TensorInfo Info(string name) => Lookup(name).Info;

    (SafetensorsFile File, TensorInfo Info) Lookup(string name) =>
        _index.TryGetValue(name, out var hit) ? hit : throw new ModelMismatchException("tensor not found", Directory, name);

    public bool Contains(string name) => _index.ContainsKey(name);

    /// <summary>A whole tensor as fp32 (copies; for the large embedding use the ranged overload).</summary>
    public float[] ReadFloat32(string name)
    {
        var (f, _) = Lookup(name);
        return f.ReadFloat32(name);
    }

    /// <summary>Elements [first, first + destination.Length) of a tensor as fp32.</summary>
    public void ReadFloat32(string name, long first, Span<float> destination)
    {
        var (f, t) = Lookup(name);
        f.ReadFloat32(t, first, destination);
    }

    /// <summary>
    /// SHA-256 over config.json and every safetensors file (names and bytes, in name order): identifies the
    /// source of an export. Reads every byte, so it takes as long as reading the checkpoint once.
    /// </summary>
    public string ComputeHash()
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        foreach (var path in new[] { Path.Combine(Directory, ConfigFile) }.Concat(_files.Select(f => f.Path).Order(StringComparer.Ordinal)))
        {
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes(Path.GetFileName(path) + "\n"));
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
            int n;
            while ((n = fs.Read(buffer)) > 0) sha.AppendData(buffer.AsSpan(0, n));
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}
