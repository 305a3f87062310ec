using System.Security.Cryptography;
using Google.Protobuf;
using Onnx;
using OnnxInterp.Checkpoints;
using OnnxInterp.Internals;

namespace OnnxInterp.Export.Hooking;

/// <summary>What `onnxinterp hook` adds. Defaults give the same hook I/O as <see cref="ExportOptions"/>'s.</summary>
public sealed record HookOptions
{
    /// <summary>A Hugging Face config.json for the model; else the folder's config.json, else its genai_config.json.</summary>
    public string? ConfigPath { get; init; }

    public bool HookOutputs { get; init; } = true;
    public bool InjectionInputs { get; init; } = true;

    /// <summary>SHA-256 over the source graph file and the tensor bytes it reads (read anyway while copying).</summary>
    public bool HashSource { get; init; } = true;

    public bool CopyTokenizer { get; init; } = true;
}

/// <summary>
/// An existing ONNX decoder (the model builder's int4/fp32 exports, Optimum's, our own plain export) in, a folder our
/// sessions and analyses open out: the same hook outputs, no-op injection inputs and manifest as
/// <see cref="ModelExporter"/> writes, inserted at the residual stream found by pattern (<see cref="ResidualStream"/>).
/// GroupQueryAttention nodes get our masking and positions (<see cref="AttentionRewriter"/>); with injection inputs each
/// SkipSimplifiedLayerNormalization of the stream becomes Add, injection, SimplifiedLayerNormalization, as in our fused
/// export. Weights are copied unchanged into model.onnx.data. What cannot be mapped is refused with
/// <see cref="UnmappedGraphException"/> naming the node. The folder is built beside the target and moved into place.
/// </summary>
public static class HookRewriter
{
    const string Prefix = "onnxinterp/";

    public static ExportResult Hook(string inputDir, string outputDir, HookOptions? options = null)
    {
        var o = options ?? new HookOptions();
        if (!o.HookOutputs && !o.InjectionInputs) Throw.Argument("nothing to add: enable hook outputs or injection inputs", "hooks", "none");
        if (string.IsNullOrWhiteSpace(outputDir)) Throw.Argument("output folder must be given", "out", outputDir);
        if (!Directory.Exists(inputDir)) Throw.InvalidFile("model folder not found", inputDir);
        if (Path.GetFullPath(outputDir).TrimEnd('/') == Path.GetFullPath(inputDir).TrimEnd('/'))
            Throw.Argument("output folder must differ from the model folder", "out", outputDir);

        var modelFile = FindModelFile(inputDir);
        var model = Load(modelFile);
        var graph = model.Graph;
        foreach (var n in graph.Node)
            if (n.Attribute.Any(a => a.G is not null || a.Graphs.Count > 0))
                throw new UnmappedGraphException("nodes with subgraphs (If, Loop, Scan) are not mapped", modelFile, n.Name);
        if (graph.Input.Concat(graph.Output).FirstOrDefault(v => v.Name.StartsWith("blocks.", StringComparison.Ordinal)) is { } existing)
            Throw.Argument("the graph already has hook I/O", "graph", existing.Name);
        var files = ExternalData.Validate(graph, inputDir, modelFile);
        var (config, configSource) = DeployedConfig.Read(inputDir, o.ConfigPath);
        CheckIo(graph, config, modelFile);
        var t = IoType(graph, modelFile);

        var index = new GraphIndex(graph);
        var stream = ResidualStream.Find(index, config.NumLayers, config.HiddenSize, modelFile);
        config = Complete(config, configSource, stream, index, files, modelFile);

        var g = new GraphBuilder(graph, Prefix);
        int rewritten = AttentionRewriter.Rewrite(g, index, t, config.HeadDim, modelFile);
        if (!graph.Input.Any(i => i.Name == "position_ids"))
            Throw.Unsupported("the graph has no position_ids input (and no GroupQueryAttention whose rotation could be rewritten to use one)", modelFile, "input", "position_ids");
        var sums = stream.Steps.Select(s => s.Sum).ToArray();
        if (o.InjectionInputs) Unfuse(g, graph, stream, sums, modelFile);
        else if (sums[^1] is null) sums[^1] = ExposeSum(g, stream.Steps[^1].Node);
        var hooks = InsertHooks(g, graph, stream, sums!, config, t, o);
        GraphIndex.Prune(graph);
        GraphIndex.SortTopologically(graph, modelFile);

        string pattern = stream.Steps.Any(s => s.IsSkipNorm) ? $"{ResidualStream.SkipNorm} chain" : "residual Add chain";
        string origin = $"{Path.GetFileName(modelFile)}: {pattern}; config from {configSource}" +
            (rewritten > 0 ? $"; {rewritten} {AttentionRewriter.Gqa} nodes given our masking and positions" : "");
        ModelManifest? manifest = null;
        long dataBytes = 0;
        AtomicFile.WriteDirectory(outputDir, staging =>
        {
            using var hash = o.HashSource ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
            hash?.AppendData(File.ReadAllBytes(modelFile));
            dataBytes = ExternalData.Copy(graph, files, Path.Combine(staging, ModelExporter.DataFile), hash, modelFile);
            string? sourceHash = hash is null ? null : "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset());
            model.MetadataProps.Add(new StringStringEntryProto { Key = "onnxinterp.hooked_from", Value = origin });
            using (var fs = File.Create(Path.Combine(staging, ModelExporter.ModelFile))) model.WriteTo(fs);

            manifest = new ModelManifest
            {
                Exporter = $"OnnxInterp {ModelExporter.Version} hook",
                Architecture = config.Architecture,
                Family = config.Family,
                DType = t == OnnxType.Float16 ? ExportDType.Fp16 : ExportDType.Fp32,
                Config = config,
                ModelFile = ModelExporter.ModelFile,
                DataFile = ModelExporter.DataFile,
                Opset = model.OpsetImport.FirstOrDefault(i => i.Domain.Length == 0)?.Version ?? ModelExporter.Opset,
                HookOutputs = o.HookOutputs,
                InjectionInputs = o.InjectionInputs,
                Quantization = Quantization(graph),
                Fused = graph.Node.Any(n => n.OpType is AttentionRewriter.Gqa or ResidualStream.SkipNorm or "RotaryEmbedding"),
                HookedFrom = origin,
                Hooks = hooks.Select(h => new ManifestHook(h.Name, h.Kind, h.Layer, h.Dim,
                    o.HookOutputs ? h.Output : null,
                    o.InjectionInputs ? new ManifestInjection(h.ScaleInput, h.ShiftInput,
                        h.HasProjection ? h.ProjInput : null, h.HasProjection ? h.ProjMaskInput : null) : null)).ToList(),
                Inputs = graph.Input.Select(i => i.Name).ToList(),
                Outputs = graph.Output.Select(x => x.Name).ToList(),
                SourceHash = sourceHash,
            };
            File.WriteAllText(Path.Combine(staging, ModelManifest.FileName), manifest.ToJson());
            File.WriteAllText(Path.Combine(staging, ModelExporter.GenAiConfigFile), GenAiConfig.Build(config, ModelExporter.ModelFile));
            var configJson = o.ConfigPath ?? Path.Combine(inputDir, HfCheckpoint.ConfigFile);
            if (File.Exists(configJson)) File.Copy(configJson, Path.Combine(staging, HfCheckpoint.ConfigFile));
            if (o.CopyTokenizer)
                foreach (var name in HfCheckpoint.TokenizerFiles)
                    if (File.Exists(Path.Combine(inputDir, name))) File.Copy(Path.Combine(inputDir, name), Path.Combine(staging, name));
        });
        return new ExportResult(Path.GetFullPath(outputDir), manifest!, dataBytes);
    }

    /// <summary>genai_config.json's decoder file, else model.onnx, else the folder's only .onnx file.</summary>
    static string FindModelFile(string dir)
    {
        if (DeployedConfig.DecoderFile(dir) is { } named) return ExternalDataPath.Resolve(dir, named, Path.Combine(dir, ModelExporter.GenAiConfigFile));
        var standard = Path.Combine(dir, ModelExporter.ModelFile);
        if (File.Exists(standard)) return standard;
        var all = Directory.GetFiles(dir, "*.onnx");
        if (all.Length != 1) Throw.InvalidFile($"expected one .onnx graph in the folder (or genai_config.json naming it), found {all.Length}", dir, "model");
        return all[0];
    }

    static ModelProto Load(string path)
    {
        if (!File.Exists(path)) Throw.InvalidFile("model file not found", path);
        try
        {
            using var fs = File.OpenRead(path);
            return ModelProto.Parser.ParseFrom(fs);
        }
        catch (InvalidProtocolBufferException e) { throw new InvalidFileException($"not an ONNX model: {e.Message}", path, inner: e); }
    }

    /// <summary>The I/O names our sessions feed and fetch.</summary>
    static void CheckIo(GraphProto graph, ModelConfig c, string file)
    {
        var inputs = graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var outputs = graph.Output.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in new[] { "input_ids", "attention_mask" }.Concat(Enumerable.Range(0, c.NumLayers).SelectMany(l => new[] { DecoderGraph.PastKey(l), DecoderGraph.PastValue(l) })))
            if (!inputs.Contains(name)) Throw.Unsupported("the graph lacks an input our sessions feed", file, "input", name);
        foreach (var name in new[] { "logits" }.Concat(Enumerable.Range(0, c.NumLayers).SelectMany(l => new[] { DecoderGraph.PresentKey(l), DecoderGraph.PresentValue(l) })))
            if (!outputs.Contains(name)) Throw.Unsupported("the graph lacks an output our sessions fetch", file, "output", name);
    }

    /// <summary>The activation type, from the first past key (fp32 or fp16).</summary>
    static OnnxType IoType(GraphProto graph, string file)
    {
        int type = graph.Input.First(i => i.Name == DecoderGraph.PastKey(0)).Type?.TensorType?.ElemType ?? 0;
        return type switch
        {
            (int)OnnxType.Float => OnnxType.Float,
            (int)OnnxType.Float16 => OnnxType.Float16,
            _ => throw new UnsupportedModelException("only fp32 and fp16 activations are mapped", file, "input." + DecoderGraph.PastKey(0), type.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        };
    }

    /// <summary>Fills what genai_config.json lacks from the graph; checks a config.json against it.</summary>
    static ModelConfig Complete(ModelConfig c, string source, ResidualStream stream, GraphIndex index, IReadOnlyDictionary<string, string> files, string file)
    {
        if (source == DeployedConfig.FromConfigJson)
        {
            if (c.IntermediateSize != stream.IntermediateSize)
                Throw.Mismatch($"config.json's intermediate_size differs from the graph's down projections ({stream.IntermediateSize})", file, "intermediate_size", c.IntermediateSize);
            return c;
        }
        var norm = index.Graph.Node.FirstOrDefault(n => n.OpType is "SimplifiedLayerNormalization" or ResidualStream.SkipNorm);
        var windows = stream.AttentionNodes.Select(n => n.OpType == AttentionRewriter.Gqa ? GraphIndex.Attribute(n, "local_window_size", -1L) : -1L).ToList();
        long window = windows.Max();
        return c with
        {
            IntermediateSize = stream.IntermediateSize,
            RmsNormEps = norm is null ? c.RmsNormEps : GraphIndex.Attribute(norm, "epsilon", 1e-5f),
            SlidingWindow = window > 0 ? (int)window : null,
            SlidingLayers = window > 0 ? [.. windows.Select(w => w > 0)] : [],
            RopeTheta = RopeTheta(index, files, file) ?? c.RopeTheta,
        };
    }

    /// <summary>θ from the cos cache: row 1, column 1 is cos(θ^(−2/rotary_dim)).</summary>
    static double? RopeTheta(GraphIndex index, IReadOnlyDictionary<string, string> files, string file)
    {
        var user = index.Graph.Node.FirstOrDefault(n => (n.OpType == AttentionRewriter.Gqa && n.Input.Count > 7 && n.Input[7].Length > 0) || n.OpType == "RotaryEmbedding");
        if (user is null) return null;
        var name = user.OpType == "RotaryEmbedding" ? user.Input[2] : user.Input[7];
        if (!index.Initializers.TryGetValue(name, out var cache) || cache.Dims.Count != 2 || cache.Dims[0] < 2 || cache.Dims[1] < 2
            || cache.DataType != (int)OnnxType.Float) return null;
        long half = cache.Dims[1];
        float cos = TensorValue(cache, half + 1, Path.GetDirectoryName(file)!, file);
        double inv = Math.Acos(cos);
        return inv > 0 ? Math.Pow(inv, -half) : null;
    }

    static float TensorValue(TensorProto t, long index, string dir, string file)
    {
        if (t.FloatData.Count > index) return t.FloatData[(int)index];
        if (!t.RawData.IsEmpty) return BitConverter.ToSingle(t.RawData.Span.Slice((int)(index * 4), 4));
        var location = t.ExternalData.First(e => e.Key == "location").Value;
        long offset = long.Parse(t.ExternalData.FirstOrDefault(e => e.Key == "offset")?.Value ?? "0", System.Globalization.CultureInfo.InvariantCulture);
        using var h = UntrustedFile.OpenRead(ExternalDataPath.Resolve(dir, location, file), "external data");
        Span<byte> four = stackalloc byte[4];
        UntrustedFile.ReadExactly(h, four, offset + index * 4, file);
        return BitConverter.ToSingle(four);
    }

    /// <summary>Each SkipSimplifiedLayerNormalization of the stream becomes Add (+ bias) and SimplifiedLayerNormalization, so an injection fits between.</summary>
    static void Unfuse(GraphBuilder g, GraphProto graph, ResidualStream stream, string?[] sums, string file)
    {
        var readers = graph.Node.SelectMany(n => n.Input).Concat(graph.Output.Select(x => x.Name)).ToHashSet(StringComparer.Ordinal);
        for (int k = 0; k < stream.Steps.Count; k++)
        {
            var step = stream.Steps[k];
            if (!step.IsSkipNorm) continue;
            var n = step.Node;
            for (int i = 1; i <= 2 && i < n.Output.Count; i++)
                if (n.Output[i].Length > 0 && readers.Contains(n.Output[i]))
                    throw new UnmappedGraphException($"{ResidualStream.SkipNorm} output {i} (mean or inverse std) is read; only outputs 0 and 3 are mapped", file, n.Name);
            string sum = step.Sum ?? g.Fresh("residual");
            bool bias = n.Input.Count > 3 && n.Input[3].Length > 0;
            var added = g.Op("Add", [n.Input[0], n.Input[1]], bias ? null : sum);
            if (bias) g.Op("Add", [added, n.Input[3]], sum);
            if (n.Output[0].Length > 0)
                g.Op("SimplifiedLayerNormalization", [sum, n.Input[2]], n.Output[0], null,
                    ("axis", -1L), ("epsilon", GraphIndex.Attribute(n, "epsilon", 1e-5f)), ("stash_type", 1L));
            graph.Node.Remove(n);
            sums[k] = sum;
        }
    }

    /// <summary>Names the residual-sum output of the last SkipSimplifiedLayerNormalization (the model builder leaves it unnamed).</summary>
    static string ExposeSum(GraphBuilder g, NodeProto n)
    {
        while (n.Output.Count < 4) n.Output.Add("");
        return n.Output[3] = g.Fresh("residual");
    }

    /// <summary>The exporter's hook points, in its order, at the stream's values; with injection the readers move to the injected value.</summary>
    static List<HookPoint> InsertHooks(GraphBuilder g, GraphProto graph, ResidualStream stream, string[] sums, ModelConfig c, OnnxType t, HookOptions o)
    {
        var hooks = new List<HookPoint>();
        string Apply(HookKind kind, int layer, string value, int dim)
        {
            var hook = HookPoint.Create(kind, layer, dim);
            hooks.Add(hook);
            var readers = graph.Node.Where(n => n.Input.Contains(value)).ToList();
            var result = HookEmitter.Emit(g, hook, value, t, o.HookOutputs, o.InjectionInputs);
            if (o.InjectionInputs)
                foreach (var n in readers)
                    for (int i = 0; i < n.Input.Count; i++)
                        if (n.Input[i] == value) n.Input[i] = result;
            return result;
        }

        Apply(HookKind.ResidPre, 0, stream.Embedding, c.HiddenSize);
        for (int l = 0; l < c.NumLayers; l++)
        {
            Apply(HookKind.ResidMid, l, sums[2 * l], c.HiddenSize);
            Apply(HookKind.MlpPost, l, stream.MlpActivations[l], stream.IntermediateSize);
            var post = Apply(HookKind.ResidPost, l, sums[2 * l + 1], c.HiddenSize);
            if (l + 1 < c.NumLayers) Apply(HookKind.ResidPre, l + 1, post, c.HiddenSize);
        }
        return hooks;
    }

    /// <summary>The weight format of the graph's MatMulNBits nodes (the first one's), null when there are none.</summary>
    static WeightQuantization? Quantization(GraphProto graph)
    {
        var nbits = graph.Node.Where(n => n.OpType == "MatMulNBits").ToList();
        if (nbits.Count == 0) return null;
        var n = nbits[0];
        return new WeightQuantization
        {
            Bits = (int)GraphIndex.Attribute(n, "bits", 4L),
            BlockSize = (int)GraphIndex.Attribute(n, "block_size", 0L),
            Symmetric = n.Input.Count < 4 || n.Input[3].Length == 0,
            AccuracyLevel = (int)GraphIndex.Attribute(n, "accuracy_level", 0L),
            Head = nbits.Any(x => x.Output.Contains("logits")),
        };
    }
}
