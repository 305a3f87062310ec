using System.CommandLine;
using OnnxInterp.Checkpoints.Families;
using OnnxInterp.Export;

namespace OnnxInterp.Cli.Commands;

static class ExportCommand
{
    public static Command Create(CliContext ctx)
    {
        var source = new Argument<string>("hf-dir") { Description = "Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer files)." };
        var output = new Option<string>("--out", "-o") { Description = "Folder to write the ONNX model to (replaced atomically).", Required = true };
        var dtype = new Option<string>("--dtype") { Description = "Weight and activation type: fp32 (CPU) or fp16 (CUDA).", DefaultValueFactory = _ => "fp32" };
        dtype.AcceptOnlyFromAmong("fp32", "fp16");
        var plain = new Option<bool>("--no-hooks") { Description = "Export without hook outputs and injection inputs (benchmark baseline)." };
        var noHash = new Option<bool>("--no-hash") { Description = "Skip hashing the checkpoint for the manifest." };
        var weights = new Option<string>("--weights") { Description = "Linear-layer weights: fp32, or int8/int4 block-quantized into MatMulNBits (CPU, fp32 only).", DefaultValueFactory = _ => "fp32" };
        weights.AcceptOnlyFromAmong("fp32", "int8", "int4");
        var blockSize = new Option<int>("--block-size") { Description = "Quantization block size along the input dimension: 32 or 128.", DefaultValueFactory = _ => 32 };
        blockSize.AcceptOnlyFromAmong("32", "128");
        var fused = new Option<bool>("--fused") { Description = "Deployment form: GroupQueryAttention, RotaryEmbedding and (Skip)SimplifiedLayerNormalization contrib ops (fp32 only)." };

        var cmd = new Command("export", $"""
            Export a Hugging Face {ModelFamilies.NamesText()} checkpoint to ONNX with per-layer hook outputs and injection inputs.

            Examples:
              onnxinterp export ./Llama-3.1-8B --out ./llama8b-onnx
              onnxinterp export ./tiny --out ./tiny-onnx --dtype fp16
              onnxinterp export ./tiny --out ./tiny-int4 --weights int4 --block-size 32 --fused
            """)
        { source, output, dtype, plain, noHash, weights, blockSize, fused };
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            var options = new ExportOptions
            {
                DType = parse.GetValue(dtype) == "fp16" ? ExportDType.Fp16 : ExportDType.Fp32,
                HookOutputs = !parse.GetValue(plain),
                InjectionInputs = !parse.GetValue(plain),
                HashSource = !parse.GetValue(noHash),
                Quantization = parse.GetValue(weights) switch
                {
                    "int8" => WeightQuantization.Int8(parse.GetValue(blockSize)),
                    "int4" => WeightQuantization.Int4(parse.GetValue(blockSize)),
                    _ => null,
                },
                Fused = parse.GetValue(fused),
            };
            var r = ModelExporter.Export(parse.GetValue(source)!, parse.GetValue(output)!, options);
            ctx.Out.WriteLine($"exported {r.Manifest.Architecture} ({r.Manifest.Config.NumLayers} layers, {r.Manifest.Hooks.Count} hook points, " +
                $"{r.DataBytes / (1024.0 * 1024.0):F1} MiB of weights, {r.Manifest.DType}" +
                $"{(r.Manifest.Quantization is { } q ? ", " + q : "")}{(r.Manifest.Fused ? ", fused" : "")}) to {r.Directory}");
            return ExitCodes.Ok;
        }));
        return cmd;
    }
}
