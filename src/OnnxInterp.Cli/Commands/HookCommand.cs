using System.CommandLine;
using OnnxInterp.Checkpoints.Families;
using OnnxInterp.Export.Hooking;

namespace OnnxInterp.Cli.Commands;

static class HookCommand
{
    public static Command Create(CliContext ctx)
    {
        var source = new Argument<string>("onnx-dir") { Description = "Folder of an existing ONNX decoder (model.onnx or the genai_config.json decoder, external data, tokenizer files)." };
        var output = new Option<string>("--out", "-o") { Description = "Folder to write the hooked model to (replaced atomically).", Required = true };
        var config = new Option<string?>("--config") { Description = "The model's Hugging Face config.json, when the folder has neither config.json nor genai_config.json." };
        var outputsOnly = new Option<bool>("--outputs-only") { Description = "Add hook outputs but no injection inputs (keeps SkipSimplifiedLayerNormalization fused)." };
        var noHash = new Option<bool>("--no-hash") { Description = "Skip hashing the source graph and tensors for the manifest." };

        var cmd = new Command("hook", $"""
            Add our hook outputs, injection inputs and manifest to a decoder already exported to ONNX: an int4 or fp32 model
            from onnxruntime-genai's model builder ({ModelFamilies.DeployedNamesText()}), an Optimum export, or `export --no-hooks`.
            The residual stream is found by its pattern (the SkipSimplifiedLayerNormalization chain or the Add chain);
            GroupQueryAttention gets masking from attention_mask and rotary positions from position_ids, so left-padded
            batches work. Every analysis then runs on the folder as on one we exported. A graph that does not fit is refused
            with the name of the node where the pattern breaks.

            Examples:
              onnxinterp hook ./phi3-mini-int4-cpu --out ./phi3-int4-hooked
              onnxinterp hook ./llama-onnx --out ./llama-hooked --config ./Llama-3.2-1B/config.json
            """)
        { source, output, config, outputsOnly, noHash };
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            var r = HookRewriter.Hook(parse.GetValue(source)!, parse.GetValue(output)!, new HookOptions
            {
                ConfigPath = parse.GetValue(config),
                InjectionInputs = !parse.GetValue(outputsOnly),
                HashSource = !parse.GetValue(noHash),
            });
            var m = r.Manifest;
            ctx.Out.WriteLine($"hooked {m.Architecture} ({m.Config.NumLayers} layers, {m.Hooks.Count} hook points{(m.Quantization is { } q ? ", " + q : "")}" +
                $"{(m.Fused ? ", fused" : "")}) to {r.Directory}");
            ctx.Out.WriteLine($"  {m.HookedFrom}");
            return ExitCodes.Ok;
        }));
        return cmd;
    }
}
