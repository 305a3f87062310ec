using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxInterp.Checkpoints;
using OnnxInterp.Export;
using OnnxInterp.Internals;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Comparison;

/// <summary>A model named on the command line: NAME=DIR, or DIR (named after its role or folder).</summary>
public sealed record ModelSpec(string Name, string Directory)
{
    /// <summary>A chat template name chosen by the user (`--template`), over the one the folder declares; null keeps the folder's.</summary>
    public string? Template { get; init; }

    /// <summary>Parses NAME=DIR or DIR; a bare DIR gets <paramref name="defaultName"/>.</summary>
    public static ModelSpec Parse(string text, string defaultName)
    {
        int eq = text.IndexOf('=');
        if (eq > 0 && !System.IO.Directory.Exists(text))
        {
            var name = text[..eq];
            if (!IsName(name)) Throw.Argument("a model name may hold letters, digits, '-', '_' and '.' only", "model", name);
            return new ModelSpec(name, text[(eq + 1)..]);
        }
        return new ModelSpec(defaultName, text);
    }

    static bool IsName(string s) => s.All(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.');
}

/// <summary>Where a model came from and what identifies it; this is what results.json lists under "models".</summary>
public sealed record ResolvedModel
{
    public required string Name { get; init; }

    /// <summary>The folder the user named.</summary>
    public required string Source { get; init; }

    /// <summary>"checkpoint" (a Hugging Face folder, exported on demand) or "export" (a folder with manifest.json).</summary>
    public required string Format { get; init; }

    /// <summary>The exported folder the sessions load (the source itself, or the export cache entry).</summary>
    public required string Exported { get; init; }

    /// <summary>"sha256:…" of the checkpoint (config.json and safetensors files, as the manifest's sourceHash), or of the export (manifest.json and weights) when the source hash is unknown.</summary>
    public required string Hash { get; init; }

    /// <summary>"sha256:…" of the tokenizer files beside the model.</summary>
    public required string TokenizerHash { get; init; }

    public required string Architecture { get; init; }
    public required int Layers { get; init; }
    public required int HiddenSize { get; init; }
    [System.Text.Json.Serialization.JsonPropertyName("dtype")]
    public required string DType { get; init; }

    /// <summary>
    /// The chat template the model is prompted with: `--template`, else tokenizer_config.json's onnxinterp_chat_template,
    /// else its jinja chat_template (a published one by name, another as "jinja:HASH"), else "plain" (a base model).
    /// </summary>
    public string? ChatTemplate { get; init; }

    /// <summary>How <see cref="ChatTemplate"/> was chosen (<see cref="ResolvedChatTemplate.Source"/>).</summary>
    public string? ChatTemplateSource { get; init; }
}

/// <summary>
/// Turns a folder into an exported model: a folder with manifest.json is used as it is; a Hugging Face checkpoint
/// (config.json + safetensors) is exported once into the cache, under a key made of the checkpoint's SHA-256, its
/// tokenizer files, the export type and the exporter version, and reused afterwards. Exports are built aside and
/// renamed into place, so an interrupted export leaves nothing behind.
/// </summary>
public sealed class ModelResolver(string? cacheDirectory = null)
{
    public const string CacheVariable = "ONNXINTERP_CACHE";

    /// <summary>ONNXINTERP_CACHE, else ~/.cache/onnxinterp.</summary>
    public static string DefaultCacheDirectory =>
        Environment.GetEnvironmentVariable(CacheVariable) is { Length: > 0 } env ? env
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "onnxinterp");

    public string CacheDirectory { get; } = Path.GetFullPath(cacheDirectory ?? DefaultCacheDirectory);

    public ResolvedModel Resolve(ModelSpec spec, ExportDType dtype = ExportDType.Fp32, Action<string>? log = null, CancellationToken cancellation = default)
    {
        var dir = Path.GetFullPath(spec.Directory);
        if (!Directory.Exists(dir)) Throw.Argument("model folder does not exist", spec.Name, spec.Directory);
        if (File.Exists(Path.Combine(dir, ModelManifest.FileName)))
        {
            var manifest = ModelManifest.Read(dir);
            var hash = manifest.SourceHash ?? "sha256:" + HashFiles(dir, [ModelManifest.FileName, manifest.DataFile]);
            return Describe(spec, dir, "export", dir, hash, manifest);
        }
        if (!File.Exists(Path.Combine(dir, HfCheckpoint.ConfigFile)))
            Throw.Argument("not a model folder: it has neither manifest.json (an exported model) nor config.json (a Hugging Face checkpoint)", spec.Name, spec.Directory);

        using var ckpt = HfCheckpoint.Open(dir);
        var files = new[] { HfCheckpoint.ConfigFile }.Concat(ckpt.Files.Select(f => Path.GetFileName(f.Path))).ToList();
        var checkpointHash = "sha256:" + Memo(dir, files, ckpt.ComputeHash);
        var key = Sha256($"onnxinterp-export\n{ModelExporter.Version}\n{dtype}\n{checkpointHash}\n{TokenizerHash(dir)}");
        var target = Path.Combine(CacheDirectory, "exports", key);
        if (!File.Exists(Path.Combine(target, ModelManifest.FileName)))
        {
            cancellation.ThrowIfCancellationRequested();
            // One export per checkpoint however many workers share the cache (a sharded run's pods all resolve every
            // model): the others wait for it, then find it in place.
            using var exportLock = FolderLock.Acquire(Path.Combine(CacheDirectory, "locks", key), log, cancellation,
                $"{spec.Name}: another onnxinterp process is exporting {dir} into the cache; waiting for it");
            if (File.Exists(Path.Combine(target, ModelManifest.FileName)))
                return Describe(spec, dir, "checkpoint", target, checkpointHash, ModelManifest.Read(target));
            RemoveAbandoned(key);
            log?.Invoke($"exporting {spec.Name} ({dir}) to the cache {target}");
            var staging = Path.Combine(CacheDirectory, "exports", $".{key}.{Guid.NewGuid():N}.partial");
            try
            {
                var r = ModelExporter.Export(ckpt, staging, new ExportOptions { DType = dtype, HashSource = false });
                // The hash was computed above; record it as the exporter would have.
                AtomicFile.WriteAllText(Path.Combine(staging, ModelManifest.FileName), (r.Manifest with { SourceHash = checkpointHash }).ToJson());
                try
                {
                    Directory.Move(staging, target);
                }
                catch (IOException) when (File.Exists(Path.Combine(target, ModelManifest.FileName)))
                {
                    // Another run exported the same checkpoint first; its copy is identical.
                }
            }
            finally
            {
                if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            }
        }
        else
        {
            log?.Invoke($"{spec.Name}: using the cached export {target}");
        }
        return Describe(spec, dir, "checkpoint", target, checkpointHash, ModelManifest.Read(target));
    }

    /// <summary>
    /// A killed export leaves its staging folder; one whose files were not written for a day cannot belong to a running
    /// export (an export writes continuously), so it is removed.
    /// </summary>
    void RemoveAbandoned(string key)
    {
        var exports = Path.Combine(CacheDirectory, "exports");
        if (!Directory.Exists(exports)) return;
        foreach (var d in Directory.GetDirectories(exports, $".{key}.*.partial"))
        {
            var newest = Directory.EnumerateFiles(d, "*", SearchOption.AllDirectories).Select(File.GetLastWriteTimeUtc)
                .Append(Directory.GetLastWriteTimeUtc(d)).Max();
            if (DateTime.UtcNow - newest < TimeSpan.FromDays(1)) continue;
            try { Directory.Delete(d, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    ResolvedModel Describe(ModelSpec spec, string source, string format, string exported, string hash, ModelManifest m)
    {
        var template = ModelChatTemplate.Resolve(exported, spec.Template);
        return Describe(spec, source, format, exported, hash, m, template);
    }

    ResolvedModel Describe(ModelSpec spec, string source, string format, string exported, string hash, ModelManifest m, ResolvedChatTemplate template) => new()
    {
        Name = spec.Name,
        Source = source,
        Format = format,
        Exported = exported,
        Hash = hash,
        TokenizerHash = "sha256:" + TokenizerHash(exported),
        Architecture = m.Architecture,
        Layers = m.Config.NumLayers,
        HiddenSize = m.Config.HiddenSize,
        DType = m.DType.ToString().ToLowerInvariant(),
        ChatTemplate = template.Name,
        ChatTemplateSource = template.Source,
    };

    static string TokenizerHash(string dir) =>
        HashFiles(dir, HfCheckpoint.TokenizerFiles.Where(f => File.Exists(Path.Combine(dir, f))).ToList());

    /// <summary>SHA-256 over each file's name and bytes, in the given order.</summary>
    static string HashFiles(string dir, IReadOnlyList<string> names)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        foreach (var name in names)
        {
            sha.AppendData(Encoding.UTF8.GetBytes(name + "\n"));
            using var fs = new FileStream(Path.Combine(dir, name), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
            int n;
            while ((n = fs.Read(buffer)) > 0) sha.AppendData(buffer.AsSpan(0, n));
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>
    /// Hashing a large checkpoint reads every byte, so the result is remembered in the cache against each file's size and
    /// modification time, and recomputed when any of them changes.
    /// </summary>
    string Memo(string dir, IReadOnlyList<string> files, Func<string> compute)
    {
        var stamp = string.Join("\n", files.Select(f =>
        {
            var info = new FileInfo(Path.Combine(dir, f));
            return $"{f}\t{info.Length}\t{info.LastWriteTimeUtc.Ticks}";
        }));
        var memo = Path.Combine(CacheDirectory, "hashes", Sha256(dir) + ".json");
        try
        {
            if (File.Exists(memo) && JsonNode.Parse(File.ReadAllText(memo)) is JsonObject o
                && o["stamp"]?.GetValue<string>() == stamp && o["sha256"]?.GetValue<string>() is { Length: 64 } known)
                return known;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or IOException)
        {
            // A damaged memo is recomputed.
        }
        var hash = compute();
        AtomicFile.WriteAllText(memo, new JsonObject { ["directory"] = dir, ["stamp"] = stamp, ["sha256"] = hash }.ToJsonString());
        return hash;
    }

    static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
