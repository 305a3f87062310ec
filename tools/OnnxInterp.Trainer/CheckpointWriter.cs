using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxInterp.Checkpoints;
using OnnxInterp.Internals;

namespace OnnxInterp.Trainer;

/// <summary>
/// Writes a trained model as a Hugging Face LlamaForCausalLM folder: config.json (untied lm_head), model.safetensors
/// in F32, and the tokenizer files as given. The folder is built beside the target and moved into place, so a reader
/// never sees a half-written checkpoint; an existing folder is replaced.
/// </summary>
public static class CheckpointWriter
{
    public static void Write(string directory, TinyLlama model, string tokenizerJson, string tokenizerConfigJson)
    {
        if (string.IsNullOrWhiteSpace(directory)) throw new ArgumentException("checkpoint folder must be given", nameof(directory));
        AtomicFile.WriteDirectory(directory, staging =>
        {
            File.WriteAllText(Path.Combine(staging, HfCheckpoint.ConfigFile), ConfigJson(model.Config));
            var entries = model.Parameters.Select(p => SafetensorsEntry.FromFloat32(p.Name, p.Shape.Select(s => (long)s).ToArray(), p.Data)).ToList();
            SafetensorsWriter.Write(Path.Combine(staging, HfCheckpoint.SingleFile), entries, new Dictionary<string, string> { ["format"] = "pt" });
            File.WriteAllText(Path.Combine(staging, "tokenizer.json"), tokenizerJson);
            File.WriteAllText(Path.Combine(staging, "tokenizer_config.json"), tokenizerConfigJson);
        });
    }

    /// <summary>config.json for LlamaForCausalLM; it round-trips through <see cref="ModelConfigReader"/>.</summary>
    public static string ConfigJson(TrainerConfig c)
    {
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"),
            ["model_type"] = "llama",
            ["hidden_size"] = c.Hidden,
            ["intermediate_size"] = c.Intermediate,
            ["num_hidden_layers"] = c.Layers,
            ["num_attention_heads"] = c.Heads,
            ["num_key_value_heads"] = c.KvHeads,
            ["head_dim"] = c.HeadDim,
            ["vocab_size"] = c.Vocab,
            ["hidden_act"] = "silu",
            ["rms_norm_eps"] = c.RmsNormEps,
            ["rope_theta"] = c.RopeTheta,
            ["max_position_embeddings"] = c.MaxSeq,
            ["tie_word_embeddings"] = false,
            ["attention_bias"] = false,
            ["mlp_bias"] = false,
            ["bos_token_id"] = c.BosTokenId,
            ["eos_token_id"] = c.EosTokenId,
            ["torch_dtype"] = "float32",
        };
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}
