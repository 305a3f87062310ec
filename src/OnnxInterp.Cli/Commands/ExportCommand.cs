using System.CommandLine;
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

        var cmd = new Command("export", """
            Export a Hugging Face Llama, Mistral or Qwen2 checkpoint to ONNX with per-layer hook outputs and injection inputs.

            Examples:
              onnxinterp export ./Llama-3.1-8B --out ./llama8b-onnx
              onnxinterp export ./tiny --out ./tiny-onnx --dtype fp16
            """)
        { source, output, dtype, plain, noHash };
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            var options = new ExportOptions
            {
                DType = parse.GetValue(dtype) == "fp16" ? ExportDType.Fp16 : ExportDType.Fp32,
                HookOutputs = !parse.GetValue(plain),
                InjectionInputs = !parse.GetValue(plain),
                HashSource = !parse.GetValue(noHash),
            };
            var r = ModelExporter.Export(parse.GetValue(source)!, parse.GetValue(output)!, options);
            ctx.Out.WriteLine($"exported {r.Manifest.Architecture} ({r.Manifest.Config.NumLayers} layers, {r.Manifest.Hooks.Count} hook points, " +
                $"{r.DataBytes / (1024.0 * 1024.0):F1} MiB of weights, {r.Manifest.DType}) to {r.Directory}");
            return ExitCodes.Ok;
        }));
        return cmd;
    }
}
