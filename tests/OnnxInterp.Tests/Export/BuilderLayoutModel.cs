using System.Globalization;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Onnx;
using OnnxInterp.Export;
using OnnxInterp.Tests.Reference;

namespace OnnxInterp.Tests.Export;

/// <summary>
/// Writes a tiny checkpoint as onnxruntime-genai's model builder writes a CPU decoder (builders/base.py, fp32 or int4):
/// its node and tensor names ("/model/layers.{l}/attn/GroupQueryAttention", "model.layers.{l}.attn.qkv_proj.MatMul.weight",
/// "…MatMul_Q4" / "…weight_Q4" / "…weight_scales" after MatMulNBitsQuantizer), its op pattern (SimplifiedLayerNormalization
/// then a SkipSimplifiedLayerNormalization chain whose last node has no residual output; packed QKV; GroupQueryAttention
/// with do_rotary = 1 on cos_cache/sin_cache and seqlens_k = ReduceSum(attention_mask) − 1; Sigmoid·Mul SiLU; no
/// position_ids input), Constant nodes for "/model/constants/…", weights in model.onnx.data, and genai_config.json.
/// Written with the protobuf types directly, independently of the library's exporter.
/// </summary>
public static class BuilderLayoutModel
{
    public static string Write(TinyCheckpoint ckpt, string dir, WeightQuantization? int4 = null)
    {
        Directory.CreateDirectory(dir);
        var b = new Builder(ckpt, int4, Path.Combine(dir, "model.onnx.data"));
        var model = b.Build();
        using (var fs = File.Create(Path.Combine(dir, "model.onnx"))) model.WriteTo(fs);
        b.Dispose();
        var c = ckpt.Config;
        var genai = new JsonObject
        {
            ["model"] = new JsonObject
            {
                ["bos_token_id"] = 1,
                ["context_length"] = 256,
                ["decoder"] = new JsonObject
                {
                    ["filename"] = "model.onnx",
                    ["head_size"] = c.HeadDim,
                    ["hidden_size"] = c.HiddenSize,
                    ["inputs"] = new JsonObject { ["input_ids"] = "input_ids", ["attention_mask"] = "attention_mask",
                        ["past_key_names"] = "past_key_values.%d.key", ["past_value_names"] = "past_key_values.%d.value" },
                    ["outputs"] = new JsonObject { ["logits"] = "logits", ["present_key_names"] = "present.%d.key", ["present_value_names"] = "present.%d.value" },
                    ["num_attention_heads"] = c.NumHeads,
                    ["num_hidden_layers"] = c.NumLayers,
                    ["num_key_value_heads"] = c.NumKvHeads,
                },
                ["eos_token_id"] = 2,
                ["pad_token_id"] = 2,
                ["type"] = c.QkvBias ? "qwen2" : c.SlidingWindow is null ? "llama" : "mistral",
                ["vocab_size"] = c.VocabSize,
            },
            ["search"] = new JsonObject { ["past_present_share_buffer"] = true, ["max_length"] = 256 },
        };
        File.WriteAllText(Path.Combine(dir, "genai_config.json"), genai.ToJsonString());
        return dir;
    }

    sealed class Builder(TinyCheckpoint ckpt, WeightQuantization? q, string dataPath) : IDisposable
    {
        readonly ReferenceConfig _c = ckpt.Config;
        readonly GraphProto _g = new() { Name = "main_graph" };
        readonly FileStream _data = new(dataPath, FileMode.Create);
        readonly HashSet<string> _constants = [];

        public void Dispose() => _data.Dispose();

        public ModelProto Build()
        {
            int d = _c.HiddenSize, hd = _c.HeadDim, L = _c.NumLayers, kv = _c.NumKvHeads;
            Input("input_ids", TensorProto.Types.DataType.Int64, "batch_size", "sequence_length");
            Input("attention_mask", TensorProto.Types.DataType.Int64, "batch_size", "total_sequence_length");
            for (int l = 0; l < L; l++)
            {
                Input($"past_key_values.{l}.key", TensorProto.Types.DataType.Float, "batch_size", kv, "past_sequence_length", "kv_cache_dim");
                Input($"past_key_values.{l}.value", TensorProto.Types.DataType.Float, "batch_size", kv, "past_sequence_length", "kv_cache_dim");
            }
            Output("logits", "batch_size", "sequence_length", _c.VocabSize);
            for (int l = 0; l < L; l++)
            {
                Output($"present.{l}.key", "batch_size", kv, "total_sequence_length", "kv_cache_dim");
                Output($"present.{l}.value", "batch_size", kv, "total_sequence_length", "kv_cache_dim");
            }

            // make_attention_mask_reformatting_for_gqa
            const string m = "/model/attn_mask_reformat/attn_mask_subgraph";
            Node("ReduceSum", $"{m}/ReduceSum", ["attention_mask", Const("INT64", "[1]", new long[] { 1 })], [$"{m}/ReduceSum/output_0"], ("keepdims", 0L));
            Node("Sub", $"{m}/Sub", [$"{m}/ReduceSum/output_0", Const("INT64", "1", 1L)], [$"{m}/Sub/output_0"]);
            Node("Cast", $"{m}/Sub/Cast", [$"{m}/Sub/output_0"], [$"{m}/Sub/Cast/output_0"], ("to", (long)TensorProto.Types.DataType.Int32));
            Node("Shape", $"{m}/Shape", ["attention_mask"], [$"{m}/Shape/output_0"]);
            Node("Gather", $"{m}/Gather", [$"{m}/Shape/output_0", Const("INT64", "1", 1L)], [$"{m}/Gather/output_0"], ("axis", 0L));
            Node("Cast", $"{m}/Gather/Cast", [$"{m}/Gather/output_0"], [$"{m}/Gather/Cast/output_0"], ("to", (long)TensorProto.Types.DataType.Int32));

            Weight("model.embed_tokens.weight", W("model.embed_tokens.weight"), _c.VocabSize, d);
            Node("Gather", "/model/embed_tokens/Gather", ["model.embed_tokens.weight", "input_ids"], ["/model/embed_tokens/Gather/output_0"]);
            RotaryCaches();

            string root = "/model/embed_tokens/Gather/output_0", skip = "";
            for (int l = 0; l < L; l++)
            {
                string p = $"model.layers.{l}.";
                string normed = l == 0 ? FirstNorm(root, p + "input_layernorm.weight") : SkipNorm(l, "input", root, skip, p + "input_layernorm.weight", out root);
                // Packed QKV projection (+ packed bias), GroupQueryAttention with rotary inside, o_proj.
                var qkv = Concat(W(p + "self_attn.q_proj.weight"), W(p + "self_attn.k_proj.weight"), W(p + "self_attn.v_proj.weight"));
                int qkvOut = (_c.NumHeads + 2 * kv) * hd;
                string x = MatMul($"/model/layers.{l}/attn/qkv_proj/MatMul", normed, qkv, qkvOut, d);
                if (_c.QkvBias)
                {
                    var bias = W(p + "self_attn.q_proj.bias").Concat(W(p + "self_attn.k_proj.bias")).Concat(W(p + "self_attn.v_proj.bias")).ToArray();
                    x = AddBias($"/model/layers.{l}/attn/qkv_proj/Add", x, bias);
                }
                string attn = $"/model/layers.{l}/attn/GroupQueryAttention";
                Node("GroupQueryAttention", attn,
                    [x, "", "", $"past_key_values.{l}.key", $"past_key_values.{l}.value", $"{m}/Sub/Cast/output_0", $"{m}/Gather/Cast/output_0", "cos_cache", "sin_cache"],
                    [$"{attn}/output_0", $"present.{l}.key", $"present.{l}.value"], "com.microsoft",
                    ("num_heads", (long)_c.NumHeads), ("kv_num_heads", (long)kv), ("scale", (float)(1 / Math.Sqrt(hd))),
                    ("local_window_size", (long)(_c.SlidingWindow ?? -1)), ("softcap", 0f), ("do_rotary", 1L), ("rotary_interleaved", 0L));
                string o = MatMul($"/model/layers.{l}/attn/o_proj/MatMul", $"{attn}/output_0", W(p + "self_attn.o_proj.weight"), d, _c.NumHeads * hd);
                normed = SkipNorm(l, "post_attention", root, o, p + "post_attention_layernorm.weight", out root);
                // MLP: gate, up, SiLU as Sigmoid · x, product, down.
                int im = _c.IntermediateSize;
                string gate = MatMul($"/model/layers.{l}/mlp/gate_proj/MatMul", normed, W(p + "mlp.gate_proj.weight"), im, d);
                string up = MatMul($"/model/layers.{l}/mlp/up_proj/MatMul", normed, W(p + "mlp.up_proj.weight"), im, d);
                Node("Sigmoid", $"/model/layers.{l}/mlp/act_fn/Sigmoid", [gate], [$"/model/layers.{l}/mlp/act_fn/Sigmoid/output_0"]);
                Node("Mul", $"/model/layers.{l}/mlp/act_fn/Mul", [gate, $"/model/layers.{l}/mlp/act_fn/Sigmoid/output_0"], [$"/model/layers.{l}/mlp/act_fn/Mul/output_0"]);
                Node("Mul", $"/model/layers.{l}/mlp/Mul", [$"/model/layers.{l}/mlp/act_fn/Mul/output_0", up], [$"/model/layers.{l}/mlp/Mul/output_0"]);
                skip = MatMul($"/model/layers.{l}/mlp/down_proj/MatMul", $"/model/layers.{l}/mlp/Mul/output_0", W(p + "mlp.down_proj.weight"), d, im);
            }
            // Final norm: a SkipSimplifiedLayerNormalization with only output 0 (last_layernorm).
            string fn = $"/model/layers.{L}/final_norm_layernorm";
            Weight($"model.layers.{L}.final_norm_layernorm.weight", W("model.norm.weight"), d);
            Node("SkipSimplifiedLayerNormalization", $"{fn}/SkipLayerNorm", [root, skip, $"model.layers.{L}.final_norm_layernorm.weight"], [$"{fn}/output_0"],
                "com.microsoft", ("epsilon", (float)_c.RmsNormEps));
            MatMul("/lm_head/MatMul", $"{fn}/output_0", _c.TieWordEmbeddings ? W("model.embed_tokens.weight") : W("lm_head.weight"), _c.VocabSize, d, "logits");

            var model = new ModelProto { IrVersion = 10, ProducerName = "onnxruntime-genai", Graph = _g };
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 21 });
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
            return model;
        }

        float[] W(string name) => ckpt.Weights[name];

        static float[] Concat(params float[][] parts) => parts.SelectMany(p => p).ToArray();

        string FirstNorm(string x, string weightName)
        {
            Weight(weightName, W(weightName), _c.HiddenSize);
            Node("SimplifiedLayerNormalization", "/model/layers.0/input_layernorm/LayerNorm", [x, weightName], ["/model/layers.0/input_layernorm/output_0"],
                null, ("epsilon", (float)_c.RmsNormEps), ("axis", -1L), ("stash_type", 1L));
            return "/model/layers.0/input_layernorm/output_0";
        }

        string SkipNorm(int l, string location, string root, string skip, string weightName, out string sum)
        {
            Weight(weightName, W(weightName), _c.HiddenSize);
            string b = $"/model/layers.{l}/{location}_layernorm";
            sum = $"{b}/output_3";
            Node("SkipSimplifiedLayerNormalization", $"{b}/SkipLayerNorm", [root, skip, weightName], [$"{b}/output_0", "", "", sum], "com.microsoft",
                ("epsilon", (float)_c.RmsNormEps));
            return $"{b}/output_0";
        }

        /// <summary>make_matmul_float ("{name}.weight" = Wᵀ), or MatMulNBitsQuantizer's rewrite of it ("{name}_Q4" reading "{weight}_Q4", "{weight}_scales").</summary>
        string MatMul(string name, string x, float[] w, int outDim, int inDim, string? output = null)
        {
            string weight = name[1..].Replace('/', '.') + ".weight";
            output ??= $"{name}/output_0";
            if (q is null)
            {
                var t = new float[w.Length];
                for (int r = 0; r < outDim; r++) for (int c = 0; c < inDim; c++) t[c * outDim + r] = w[r * inDim + c];
                Weight(weight, t, inDim, outDim);
                Node("MatMul", name, [x, weight], [output]);
                return output;
            }
            var m = BlockQuantizer.Quantize(w, outDim, inDim, q);
            External(weight + "_Q4", TensorProto.Types.DataType.Uint8, m.Packed, outDim, m.KBlocks, m.BlobSize);
            External(weight + "_scales", TensorProto.Types.DataType.Float, m.Scales.SelectMany(BitConverter.GetBytes).ToArray(), m.Scales.Length);
            var attributes = new List<(string, object)> { ("K", (long)inDim), ("N", (long)outDim), ("bits", 4L), ("block_size", (long)q.BlockSize) };
            if (q.AccuracyLevel != 0) attributes.Add(("accuracy_level", (long)q.AccuracyLevel));
            Node("MatMulNBits", name + "_Q4", [x, weight + "_Q4", weight + "_scales"], [output], "com.microsoft", [.. attributes]);
            return output;
        }

        string AddBias(string name, string x, float[] bias)
        {
            string b = name[1..].Replace('/', '.') + ".bias";
            Weight(b, bias, bias.Length);
            Node("Add", name, [x, b], [$"{name}/output_0"]);
            return $"{name}/output_0";
        }

        /// <summary>make_rotary_embedding_caches_from_scratch: cos/sin of t · inv_freq, [context_length, head_size / 2].</summary>
        void RotaryCaches()
        {
            var inv = ReferenceRope.InverseFrequencies(_c);
            int positions = 256, half = inv.Length;
            var cos = new float[positions * half];
            var sin = new float[positions * half];
            for (int p = 0; p < positions; p++)
                for (int j = 0; j < half; j++)
                {
                    cos[p * half + j] = (float)Math.Cos(p * inv[j]);
                    sin[p * half + j] = (float)Math.Sin(p * inv[j]);
                }
            Weight("cos_cache", cos, positions, half);
            Weight("sin_cache", sin, positions, half);
        }

        void Weight(string name, float[] values, params long[] dims) =>
            External(name, TensorProto.Types.DataType.Float, values.SelectMany(BitConverter.GetBytes).ToArray(), dims);

        void External(string name, TensorProto.Types.DataType type, byte[] bytes, params long[] dims)
        {
            var t = new TensorProto { Name = name, DataType = (int)type, DataLocation = TensorProto.Types.DataLocation.External };
            t.Dims.AddRange(dims);
            t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "model.onnx.data" });
            t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = _data.Position.ToString(CultureInfo.InvariantCulture) });
            t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = bytes.Length.ToString(CultureInfo.InvariantCulture) });
            _data.Write(bytes);
            _g.Initializer.Add(t);
        }

        /// <summary>make_constant: a Constant node "/model/constant_nodes/{type}/{value}" writing "/model/constants/{type}/{value}".</summary>
        string Const(string type, string text, object value)
        {
            string name = $"/model/constants/{type}/{text}";
            if (!_constants.Add(name)) return name;
            var t = new TensorProto { DataType = (int)TensorProto.Types.DataType.Int64 };
            if (value is long[] arr) { t.Dims.Add(arr.Length); t.Int64Data.AddRange(arr); }
            else t.Int64Data.Add((long)value);
            Node("Constant", name.Replace("constants", "constant_nodes"), [], [name], null, ("value", t));
            return name;
        }

        void Node(string op, string name, string[] inputs, string[] outputs, params (string, object)[] attributes) => Node(op, name, inputs, outputs, null, attributes);

        void Node(string op, string name, string[] inputs, string[] outputs, string? domain, params (string, object)[] attributes)
        {
            var n = new NodeProto { OpType = op, Name = name, Domain = domain ?? "" };
            n.Input.AddRange(inputs);
            n.Output.AddRange(outputs);
            foreach (var (key, v) in attributes)
            {
                var a = new AttributeProto { Name = key };
                switch (v)
                {
                    case long i: a.Type = AttributeProto.Types.AttributeType.Int; a.I = i; break;
                    case float f: a.Type = AttributeProto.Types.AttributeType.Float; a.F = f; break;
                    case TensorProto t: a.Type = AttributeProto.Types.AttributeType.Tensor; a.T = t; break;
                }
                n.Attribute.Add(a);
            }
            _g.Node.Add(n);
        }

        void Input(string name, TensorProto.Types.DataType type, params object[] dims) => _g.Input.Add(Value(name, type, dims));

        void Output(string name, params object[] dims) => _g.Output.Add(Value(name, TensorProto.Types.DataType.Float, dims));

        static ValueInfoProto Value(string name, TensorProto.Types.DataType type, object[] dims)
        {
            var shape = new TensorShapeProto();
            foreach (var d in dims)
                shape.Dim.Add(d is string s ? new TensorShapeProto.Types.Dimension { DimParam = s } : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d, CultureInfo.InvariantCulture) });
            return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } } };
        }
    }
}
