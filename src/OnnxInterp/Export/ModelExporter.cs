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

    public static string Version => typeof(ModelExporter).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    public static ExportResult Export(string checkpointDir, string outputDir, ExportOptions? options = null)
    {
        using var ckpt = HfCheckpoint.Open(checkpointDir);
        return Export(ckpt, outputDir, options ?? new ExportOptions());
    }

    public static ExportResult Export(HfCheckpoint ckpt, string outputDir, ExportOptions options)
    {
        if (string.IsNullOrWhiteSpace(outputDir)) Throw.Argument("output folder must be given", "out", outputDir);
        if (Path.GetFullPath(outputDir).TrimEnd('/') == Path.GetFullPath(ckpt.Directory).TrimEnd('/'))
            Throw.Argument("output folder must differ from the checkpoint folder", "out", outputDir);

        ModelManifest? manifest = null;
        long dataBytes = 0;
        AtomicFile.WriteDirectory(outputDir, staging =>
        {
            var g = new GraphBuilder();
            DecoderGraph graph;
            using (var weights = new WeightStreamer(ckpt, g, Path.Combine(staging, DataFile), options.DType))
            {
                graph = new DecoderGraph(g, ckpt.Config, options, weights);
                graph.Build();
                weights.Flush();
                dataBytes = weights.BytesWritten;
            }

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
                Hooks = graph.Hooks.Select(h => new ManifestHook(h.Name, h.Kind, h.Layer, h.Dim,
                    options.HookOutputs ? h.Output : null,
                    options.InjectionInputs ? new ManifestInjection(h.ScaleInput, h.ShiftInput,
                        h.HasProjection ? h.ProjInput : null, h.HasProjection ? h.ProjMaskInput : null) : null)).ToList(),
                Inputs = g.Graph.Input.Select(i => i.Name).ToList(),
                Outputs = g.Graph.Output.Select(o => o.Name).ToList(),
                SourceHash = hash,
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
