using System.CommandLine;
using OnnxInterp.Checkpoints;
using OnnxInterp.Checkpoints.Families;

namespace OnnxInterp.Cli.Commands;

static class SampleCommand
{
    public static Command Create(CliContext ctx)
    {
        var output = new Option<string>("--out", "-o") { Description = "Folder to write the checkpoint to.", Required = true };
        var family = new Option<string>("--family") { Description = ModelFamilies.ModelTypesText() + ".", DefaultValueFactory = _ => ModelFamilies.Default.ModelType };
        family.AcceptOnlyFromAmong([.. ModelFamilies.All.Select(f => f.ModelType)]);
        var layers = new Option<int>("--layers") { Description = "Number of layers.", DefaultValueFactory = _ => 4 };
        var hidden = new Option<int>("--hidden") { Description = "Hidden size (a multiple of 8).", DefaultValueFactory = _ => 64 };
        var seed = new Option<int>("--seed") { Description = "Random seed.", DefaultValueFactory = _ => 1 };
        var intermediate = new Option<int?>("--intermediate") { Description = "MLP size (default 2 × hidden)." };
        var heads = new Option<int>("--heads") { Description = "Attention heads.", DefaultValueFactory = _ => 4 };
        var kvHeads = new Option<int>("--kv-heads") { Description = "Key/value heads (divides --heads).", DefaultValueFactory = _ => 2 };
        var dtype = new Option<string>("--dtype") { Description = "Weight type: fp32, fp16 or bf16.", DefaultValueFactory = _ => "fp32" };
        dtype.AcceptOnlyFromAmong("fp32", "fp16", "bf16");
        var tokenizer = new Option<string?>("--tokenizer") { Description = "A folder with a real tokenizer.json (and tokenizer_config.json) to use; the vocabulary takes its size." };
        var cmd = new Command("sample", """
            Write a small random Hugging Face checkpoint (config.json, model.safetensors, a byte-level tokenizer.json) to try
            the tools on. Its outputs are meaningless; use the trained family in models/ for real behaviour.

            Examples:
              onnxinterp sample --out ./tiny
              onnxinterp sample --out ./tiny-qwen --family qwen2 --layers 2
              onnxinterp sample --out ./tinyllama-shape --layers 22 --hidden 2048 --intermediate 5632 --heads 32 --kv-heads 4 --dtype bf16 --tokenizer ../shared/tokenizers/llama2
            """)
        { output, family, layers, hidden, seed, intermediate, heads, kvHeads, dtype, tokenizer };
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            int h = parse.GetValue(hidden);
            if (h <= 0 || h % 8 != 0) throw new InvalidArgumentException("hidden size must be a positive multiple of 8", "--hidden", h.ToString());
            int l = parse.GetValue(layers);
            if (l <= 0) throw new InvalidArgumentException("layers must be positive", "--layers", l.ToString());
            var spec = new RandomCheckpointSpec
            {
                Family = ModelFamilies.FindByModelType(parse.GetValue(family))
                    ?? throw new InvalidArgumentException("unknown family", "--family", parse.GetValue(family)),
                HiddenSize = h,
                IntermediateSize = parse.GetValue(intermediate) ?? 2 * h,
                Layers = l,
                Heads = parse.GetValue(heads),
                KvHeads = parse.GetValue(kvHeads),
                DType = parse.GetValue(dtype) switch { "bf16" => TensorDType.BF16, "fp16" => TensorDType.F16, _ => TensorDType.F32 },
                Seed = parse.GetValue(seed),
                TokenizerDirectory = parse.GetValue(tokenizer),
            };
            var dir = parse.GetValue(output)!;
            RandomCheckpoint.Write(dir, spec);
            ctx.Out.WriteLine($"wrote a random {spec.Family} checkpoint ({l} layers, hidden {h}{(spec.TokenizerDirectory is { } t ? $", tokenizer of {t}" : "")}) to {Path.GetFullPath(dir)}");
            return ExitCodes.Ok;
        }));
        return cmd;
    }
}
