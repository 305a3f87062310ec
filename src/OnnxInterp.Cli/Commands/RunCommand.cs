using System.CommandLine;
using OnnxInterp.Checkpoints;
using OnnxInterp.Runtime;

namespace OnnxInterp.Cli.Commands;

static class RunCommand
{
    public static Command Create(CliContext ctx)
    {
        var dir = new Argument<string>("model-dir") { Description = "An exported model folder." };
        var prompt = new Option<string[]>("--prompt", "-p") { Description = "Prompt text, tokenized with the folder's tokenizer.json; repeat for a batch (left-padded)." };
        var tokens = new Option<string[]>("--tokens", "-t") { Description = "Token ids, comma-separated; repeat for a batch (left-padded)." };
        var hooks = new Option<string[]>("--hooks") { Description = "Hook names or glob patterns to capture, e.g. 'blocks.*.hook_resid_post'. Default: none.", AllowMultipleArgumentsPerToken = true };
        var save = new Option<string>("--save", "-s") { Description = "Safetensors file to write: \"logits\" [batch, seq, vocab] and each hook [batch, seq, d].", Required = true };
        var noBos = new Option<bool>("--no-special-tokens") { Description = "Do not add BOS/EOS when tokenizing prompts." };
        var interventions = new Option<string?>("--interventions") { Description = "A JSON file: an array of interventions (Hook, Op = Replace|Add|ProjectOut|Scale, Vector, Directions, Factor, Rows, Positions) applied during the pass." };

        var cmd = new Command("run", """
            Run a forward pass and save the logits and the captured hooks as safetensors (readable from numpy and torch).

            Examples:
              onnxinterp run ./tiny-onnx --prompt "The city of Paris is in France." --hooks 'blocks.*.hook_resid_post' --save out.safetensors
              onnxinterp run ./tiny-onnx --tokens 1,15,27,3 --tokens 1,9 --hooks 'blocks.0.*' --save out.safetensors
              onnxinterp run ./tiny-onnx --prompt "The city of Paris is in France." --interventions steer.json --save steered.safetensors
                (steer.json: [{"Hook": "blocks.2.hook_resid_post", "Op": "Scale", "Factor": 0.5, "Positions": [-1]}])
            """)
        { dir, prompt, tokens, hooks, save, noBos, interventions };
        cmd.Validators.Add(r =>
        {
            bool p = r.GetValue(prompt) is { Length: > 0 }, t = r.GetValue(tokens) is { Length: > 0 };
            if (p == t) r.AddError("give exactly one of --prompt or --tokens");
        });
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            var modelDir = parse.GetValue(dir)!;
            using var session = ModelSession.Open(modelDir);
            int[][] rows = parse.GetValue(prompt) is { Length: > 0 } texts
                ? PromptTokens.Encode(modelDir, texts, !parse.GetValue(noBos))
                : parse.GetValue(tokens)!.Select(ParseTokens).ToArray();
            var request = ForwardRequest.FromPrompts(rows, session.Manifest.Config.PadTokenId ?? 0) with
            {
                Hooks = parse.GetValue(hooks)?.Select(h => (HookPattern)h).ToList(),
                Interventions = parse.GetValue(interventions) is { } file ? Intervention.ReadFile(file) : null,
            };
            var result = session.Run(request);

            var entries = new List<SafetensorsEntry> { Entry("logits", result.Logits) };
            entries.AddRange(result.Cache.Select(kv => Entry(kv.Key.ToString(), kv.Value)));
            entries.Add(IntEntry("input_ids", request.InputIds));
            entries.Add(IntEntry("attention_mask", request.AttentionMask!));
            var path = parse.GetValue(save)!;
            SafetensorsWriter.Write(path, entries, new Dictionary<string, string>
            {
                ["model"] = session.Manifest.Architecture,
                ["source_hash"] = session.Manifest.SourceHash ?? "",
            });
            ctx.Out.WriteLine($"saved logits {Shape(result.Logits)} and {result.Cache.Count} hooks to {path}");
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    static int[] ParseTokens(string s)
    {
        var parts = s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new InvalidArgumentException("no token ids given", "--tokens", s);
        return parts.Select(p => int.TryParse(p, out int v) && v >= 0 ? v
            : throw new InvalidArgumentException("token ids must be non-negative integers", "--tokens", p)).ToArray();
    }

    static string Shape(FloatTensor t) => "[" + string.Join(",", t.Shape) + "]";

    static SafetensorsEntry Entry(string name, FloatTensor t) =>
        SafetensorsEntry.FromFloat32(name, t.Shape.Select(d => (long)d).ToArray(), t.Data);

    static SafetensorsEntry IntEntry(string name, int[][] rows)
    {
        var flat = rows.SelectMany(r => r.Select(v => (long)v)).ToArray();
        var bytes = new byte[flat.Length * 8];
        Buffer.BlockCopy(flat, 0, bytes, 0, bytes.Length);
        return SafetensorsEntry.FromBytes(name, TensorDType.I64, [rows.Length, rows[0].Length], bytes);
    }
}
