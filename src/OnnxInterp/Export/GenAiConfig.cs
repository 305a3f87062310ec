using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxInterp.Checkpoints;

namespace OnnxInterp.Export;

/// <summary>genai_config.json, so ONNX Runtime GenAI can load the exported folder as a plain decoder.</summary>
static class GenAiConfig
{
    public static string Build(ModelConfig c, string modelFile)
    {
        var eos = c.EosTokenIds.IsDefaultOrEmpty ? new JsonArray() : new JsonArray(c.EosTokenIds.Select(i => (JsonNode)i).ToArray());
        var root = new JsonObject
        {
            ["model"] = new JsonObject
            {
                ["bos_token_id"] = c.BosTokenId ?? 0,
                ["context_length"] = c.MaxPositionEmbeddings,
                ["decoder"] = new JsonObject
                {
                    ["session_options"] = new JsonObject { ["log_id"] = "onnxruntime-genai", ["provider_options"] = new JsonArray() },
                    ["filename"] = modelFile,
                    ["head_size"] = c.HeadDim,
                    ["hidden_size"] = c.HiddenSize,
                    ["inputs"] = new JsonObject
                    {
                        ["input_ids"] = "input_ids",
                        ["attention_mask"] = "attention_mask",
                        ["position_ids"] = "position_ids",
                        ["past_key_names"] = "past_key_values.%d.key",
                        ["past_value_names"] = "past_key_values.%d.value",
                    },
                    ["outputs"] = new JsonObject
                    {
                        ["logits"] = "logits",
                        ["present_key_names"] = "present.%d.key",
                        ["present_value_names"] = "present.%d.value",
                    },
                    ["num_attention_heads"] = c.NumHeads,
                    ["num_hidden_layers"] = c.NumLayers,
                    ["num_key_value_heads"] = c.NumKvHeads,
                },
                ["eos_token_id"] = c.EosTokenIds.Length == 1 ? c.EosTokenIds[0] : eos,
                ["pad_token_id"] = c.PadTokenId ?? (c.EosTokenIds.IsDefaultOrEmpty ? 0 : c.EosTokenIds[0]),
                ["type"] = c.Family.GenAiModelType,
                ["vocab_size"] = c.VocabSize,
            },
            ["search"] = new JsonObject
            {
                ["diversity_penalty"] = 0.0,
                ["do_sample"] = false,
                ["early_stopping"] = true,
                ["length_penalty"] = 1.0,
                ["max_length"] = Math.Min(c.MaxPositionEmbeddings, 4096),
                ["min_length"] = 0,
                ["no_repeat_ngram_size"] = 0,
                ["num_beams"] = 1,
                ["num_return_sequences"] = 1,
                // Our graph concatenates past and present keys, so the buffers cannot be shared.
                ["past_present_share_buffer"] = false,
                ["repetition_penalty"] = 1.0,
                ["temperature"] = 1.0,
                ["top_k"] = 1,
                ["top_p"] = 1.0,
            },
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}
