using Google.Protobuf;
using OnnxInterp.Checkpoints;
using OnnxInterp.Internals;

namespace OnnxInterp.Export;

/// <summary>What an export produced.</summary>
public sealed record ExportResult(string Directory, ModelManifest Manifest, long DataBytes);

/// <summary>
/// Hugging Face checkpoint folder in, ONNX model folder out: model.onnx (graph), model.onnx.data (weights,
/// streamed tensor by tensor), manifest.json, genai_config.json and the tokenizer files. The folder is built
/// beside the target and moved into place at the end, so a failed export leaves no partial folder and an
/// existing one untouched.
/// </summary>
public static class ModelExporter
{
    public const string ModelFile = "model.onnx";
    public const string DataFile = "model.onnx.data";
    public const string GenAiConfigFile = "genai_config.json";
    public const long Opset = 21;

    public const string HeadFile = "head.onnx";
    public const string DecodeFile = "decode.onnx";

    public static string LayerFile(int layer) => $"layer_{layer}.onnx";

    static void WriteGraph(string dir, string file, ModelConfig config, ExportOptions options, IReadOnlyDictionary<string, WeightRecord> records, Action<DecoderGraph> build)
    {
        var g = new GraphBuilder();
        build(new DecoderGraph(g, config, options, new SharedWeights(g, records, DataFile)));
        using var fs = File.Create(Path.Combine(dir, file));
        g.ToModel(Opset, Version, new Dictionary<string, string> { ["onnxinterp.part"] = file }).WriteTo(fs);
    }

    public static string Version => typeof(ModelExporter).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    public static ExportResult Export(string checkpointDir, string outputDir, ExportOptions? options = null)
    {
        using var ckpt = HfCheckpoint.Open(checkpointDir);
        return Export(ckpt, outputDir, options ?? new ExportOptions());
    }

    public static ExportResult Export(HfCheckpoint ckpt, string outputDir, ExportOptions options)
    {
        options.Validate();
        if (string.IsNullOrWhiteSpace(outputDir)) Throw.Argument("output folder must be given", "out", outputDir);
        if (Path.GetFullPath(outputDir).TrimEnd('/') == Path.GetFullPath(ckpt.Directory).TrimEnd('/'))
            Throw.Argument("output folder must differ from the checkpoint folder", "out", outputDir);

        ModelManifest? manifest = null;
        long dataBytes = 0;
        AtomicFile.WriteDirectory(outputDir, staging =>
        {
            var g = new GraphBuilder();
            DecoderGraph graph;
            IReadOnlyDictionary<string, WeightRecord> records;
            using (var weights = new WeightStreamer(ckpt, g, Path.Combine(staging, DataFile), options.DType))
            {
                graph = new DecoderGraph(g, ckpt.Config, options, weights);
                graph.Build();
                weights.Flush();
                dataBytes = weights.BytesWritten;
                records = weights.Records;
            }
            bool layerGraphs = options.LayerGraphs && options.HookOutputs;
            if (layerGraphs)
            {
                for (int l = 0; l < ckpt.Config.NumLayers; l++)
                    WriteGraph(staging, LayerFile(l), ckpt.Config, options, records, d => d.BuildLayer(l));
                WriteGraph(staging, HeadFile, ckpt.Config, options, records, d => d.BuildHead());
            }

            // Not for fused graphs: without hooks ORT's fused ops combine differently and the logits differ at rounding level.
            bool decodeGraph = options.DecodeGraph && (options.HookOutputs || options.InjectionInputs) && !options.Fused;
            if (decodeGraph)
                WriteGraph(staging, DecodeFile, ckpt.Config, options with { HookOutputs = false, InjectionInputs = false }, records, d => d.Build());

            string? hash = options.HashSource ? "sha256:" + ckpt.ComputeHash() : null;
            manifest = new ModelManifest
            {
                Exporter = $"OnnxInterp {Version}",
                Architecture = ckpt.Config.Architecture,
                Family = ckpt.Config.Family,
                DType = options.DType,
                Config = ckpt.Config,
                ModelFile = ModelFile,
                DataFile = DataFile,
                Opset = Opset,
                HookOutputs = options.HookOutputs,
                InjectionInputs = options.InjectionInputs,
                Quantization = options.Quantization,
                Fused = options.Fused,
                Hooks = graph.Hooks.Select(h => new ManifestHook(h.Name, h.Kind, h.Layer, h.Dim,
                    options.HookOutputs ? h.Output : null,
                    options.InjectionInputs ? new ManifestInjection(h.ScaleInput, h.ShiftInput,
                        h.HasProjection ? h.ProjInput : null, h.HasProjection ? h.ProjMaskInput : null) : null)).ToList(),
                Inputs = g.Graph.Input.Select(i => i.Name).ToList(),
                Outputs = g.Graph.Output.Select(o => o.Name).ToList(),
                SourceHash = hash,
                LayerFiles = layerGraphs ? Enumerable.Range(0, ckpt.Config.NumLayers).Select(LayerFile).ToList() : null,
                HeadFile = layerGraphs ? HeadFile : null,
                DecodeFile = decodeGraph ? DecodeFile : null,
            };

            var model = g.ToModel(Opset, Version, new Dictionary<string, string>
            {
                ["onnxinterp.architecture"] = ckpt.Config.Architecture,
                ["onnxinterp.source_hash"] = hash ?? "",
            });
            using (var fs = File.Create(Path.Combine(staging, ModelFile)))
            {
                model.WriteTo(fs);
            }
            File.WriteAllText(Path.Combine(staging, ModelManifest.FileName), manifest.ToJson());
            File.WriteAllText(Path.Combine(staging, GenAiConfigFile), GenAiConfig.Build(ckpt.Config, ModelFile));
            File.Copy(Path.Combine(ckpt.Directory, HfCheckpoint.ConfigFile), Path.Combine(staging, HfCheckpoint.ConfigFile));
            if (options.CopyTokenizer)
            {
                foreach (var name in HfCheckpoint.TokenizerFiles)
                {
                    var src = Path.Combine(ckpt.Directory, name);
                    if (File.Exists(src)) File.Copy(src, Path.Combine(staging, name));
                }
            }
        });
        return new ExportResult(Path.GetFullPath(outputDir), manifest!, dataBytes);
    }
}
