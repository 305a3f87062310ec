using OnnxInterp.Checkpoints;

namespace OnnxInterp.Tests.Checkpoints;

/// <summary>
/// config.json as transformers 5 writes it (rope_parameters with rope_theta inside, dtype, layer_types, head_dim; the
/// V5 texts below are verbatim from save_pretrained in transformers 5.17.0) and as transformers 4 wrote the same
/// model (top-level rope_theta, rope_scaling, torch_dtype): both layouts must give the same <see cref="ModelConfig"/>.
/// </summary>
public class ModelConfigLayoutTests
{
    const string LlamaV5 = """
        {
          "architectures": ["LlamaForCausalLM"],
          "attention_bias": false,
          "attention_dropout": 0.0,
          "bos_token_id": 1,
          "dtype": "bfloat16",
          "eos_token_id": 2,
          "head_dim": 16,
          "hidden_act": "silu",
          "hidden_size": 64,
          "initializer_range": 0.02,
          "intermediate_size": 128,
          "max_position_embeddings": 256,
          "mlp_bias": false,
          "model_type": "llama",
          "num_attention_heads": 4,
          "num_hidden_layers": 3,
          "num_key_value_heads": 2,
          "pad_token_id": null,
          "pretraining_tp": 1,
          "rms_norm_eps": 1e-06,
          "rope_parameters": {
            "factor": 8.0,
            "high_freq_factor": 4.0,
            "low_freq_factor": 1.0,
            "original_max_position_embeddings": 64,
            "rope_theta": 500000.0,
            "rope_type": "llama3"
          },
          "tie_word_embeddings": true,
          "transformers_version": "5.17.0",
          "use_cache": true,
          "vocab_size": 256
        }
        """;

    const string LlamaV4 = """
        {
          "architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 1, "eos_token_id": 2,
          "hidden_act": "silu", "hidden_size": 64, "intermediate_size": 128, "max_position_embeddings": 256,
          "mlp_bias": false, "model_type": "llama", "num_attention_heads": 4, "num_hidden_layers": 3,
          "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 500000.0,
          "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                           "original_max_position_embeddings": 64, "rope_type": "llama3"},
          "tie_word_embeddings": true, "torch_dtype": "bfloat16", "transformers_version": "4.46.0", "vocab_size": 256
        }
        """;

    const string Qwen2V5 = """
        {
          "architectures": ["Qwen2ForCausalLM"],
          "attention_dropout": 0.0,
          "bos_token_id": null,
          "dtype": "bfloat16",
          "eos_token_id": null,
          "hidden_act": "silu",
          "hidden_size": 64,
          "initializer_range": 0.02,
          "intermediate_size": 64,
          "layer_types": ["full_attention", "sliding_attention", "sliding_attention"],
          "max_position_embeddings": 256,
          "max_window_layers": 1,
          "model_type": "qwen2",
          "num_attention_heads": 4,
          "num_hidden_layers": 3,
          "num_key_value_heads": 1,
          "pad_token_id": null,
          "rms_norm_eps": 1e-06,
          "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"},
          "sliding_window": 3,
          "tie_word_embeddings": false,
          "transformers_version": "5.17.0",
          "use_cache": true,
          "use_sliding_window": true,
          "vocab_size": 128
        }
        """;

    const string Qwen2V4 = """
        {
          "architectures": ["Qwen2ForCausalLM"], "hidden_act": "silu", "hidden_size": 64, "intermediate_size": 64,
          "max_position_embeddings": 256, "max_window_layers": 1, "model_type": "qwen2", "num_attention_heads": 4,
          "num_hidden_layers": 3, "num_key_value_heads": 1, "rms_norm_eps": 1e-06, "rope_scaling": null,
          "rope_theta": 10000.0, "sliding_window": 3, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
          "use_sliding_window": true, "vocab_size": 128
        }
        """;

    const string MistralV5 = """
        {
          "architectures": ["MistralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1, "dtype": "float32",
          "eos_token_id": 2, "head_dim": 16, "hidden_act": "silu", "hidden_size": 64, "initializer_range": 0.02,
          "intermediate_size": 64, "max_position_embeddings": 256, "model_type": "mistral", "num_attention_heads": 4,
          "num_hidden_layers": 2, "num_key_value_heads": 2, "pad_token_id": null, "rms_norm_eps": 1e-06,
          "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"},
          "sliding_window": 3, "tie_word_embeddings": false, "transformers_version": "5.17.0", "use_cache": true,
          "vocab_size": 128
        }
        """;

    static OnnxInterpException Bad(string json) => Assert.Catch<OnnxInterpException>(() => ModelConfigReader.Parse(json, "/m/config.json"))!;

    [Test]
    public void Parse_LlamaWrittenByTransformers5_ReadsRopeParametersAndDtype()
    {
        var c = ModelConfigReader.Parse(LlamaV5);
        Assert.Multiple(() =>
        {
            Assert.That((c.HiddenSize, c.NumHeads, c.NumKvHeads, c.HeadDim, c.NumLayers), Is.EqualTo((64, 4, 2, 16, 3)));
            Assert.That(c.RopeTheta, Is.EqualTo(500000.0));
            Assert.That(c.RopeScaling, Is.EqualTo(new RopeScaling("llama3", 8, 1, 4, 64)));
            Assert.That(c.TieWordEmbeddings, Is.True);
            Assert.That(c.TorchDtype, Is.EqualTo("bfloat16"));
            Assert.That(c.PadTokenId, Is.Null);
        });
    }

    [Test]
    public void Parse_LlamaInTransformers4Layout_EqualsTheV5Reading() =>
        Assert.That(ModelConfigReader.Parse(LlamaV4), Is.EqualTo(ModelConfigReader.Parse(LlamaV5)));

    [Test]
    public void Parse_Qwen2SlidingInBothLayouts_SameLayersAndWindow()
    {
        var v5 = ModelConfigReader.Parse(Qwen2V5);
        Assert.That((v5.SlidingWindow, v5.SlidingLayers.ToArray()), Is.EqualTo(((int?)3, new[] { false, true, true })));
        Assert.That((v5.RopeTheta, v5.RopeScaling, v5.NumKvHeads, v5.TorchDtype), Is.EqualTo((10000.0, (RopeScaling?)null, 1, "bfloat16")));
        Assert.That(ModelConfigReader.Parse(Qwen2V4), Is.EqualTo(v5));
    }

    [Test]
    public void Parse_Qwen2V5WithoutSlidingWindow_HasNoWindow()
    {
        // v5 writes sliding_window null when use_sliding_window is false (Qwen2Config.__post_init__), and all layers full.
        var json = Qwen2V5.Replace("\"sliding_window\": 3", "\"sliding_window\": null").Replace("\"use_sliding_window\": true", "\"use_sliding_window\": false")
            .Replace("\"sliding_attention\"", "\"full_attention\"");
        var c = ModelConfigReader.Parse(json);
        Assert.That((c.SlidingWindow, c.SlidingLayers.Length), Is.EqualTo(((int?)null, 0)));
    }

    [Test]
    public void Parse_MistralWrittenByTransformers5_WindowOnEveryLayer()
    {
        var c = ModelConfigReader.Parse(MistralV5);
        Assert.That((c.SlidingWindow, c.SlidingLayers.ToArray(), c.RopeScaling, c.RopeTheta), Is.EqualTo(((int?)3, new[] { true, true }, (RopeScaling?)null, 10000.0)));
    }

    [Test]
    public void Parse_LinearRopeInEachLayout_SameScaling()
    {
        const string common = "\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":48,\"num_hidden_layers\":2,\"num_attention_heads\":4,\"vocab_size\":128";
        var v5 = ModelConfigReader.Parse("{" + common + ",\"rope_parameters\":{\"factor\":2.0,\"rope_theta\":10000.0,\"rope_type\":\"linear\"}}");
        var v4 = ModelConfigReader.Parse("{" + common + ",\"rope_theta\":10000.0,\"rope_scaling\":{\"factor\":2.0,\"type\":\"linear\"}}");
        Assert.That(v5.RopeScaling, Is.EqualTo(new RopeScaling("linear", 2)));
        Assert.That(v4, Is.EqualTo(v5));
    }

    [Test]
    public void Parse_RopeThetaInBothPlaces_RopeParametersWins()
    {
        // convert_rope_params_to_dict: rope_parameters.setdefault("rope_theta", <top-level rope_theta>).
        var c = ModelConfigReader.Parse(LlamaV5.Replace("\"rms_norm_eps\"", "\"rope_theta\": 10000.0, \"rms_norm_eps\""));
        Assert.That(c.RopeTheta, Is.EqualTo(500000.0));
    }

    [Test]
    public void Parse_DtypeAndTorchDtype_DtypeWins() =>
        Assert.That(ModelConfigReader.Parse(LlamaV5.Replace("\"dtype\": \"bfloat16\"", "\"dtype\": \"bfloat16\", \"torch_dtype\": \"float32\"")).TorchDtype,
            Is.EqualTo("bfloat16"));

    [Test]
    public void Parse_Llama3WithoutOriginalMaxPositions_TakesMaxPositionEmbeddings()
    {
        // standardize_rope_params: setdefault("original_max_position_embeddings", max_position_embeddings).
        var c = ModelConfigReader.Parse(LlamaV5.Replace("\"original_max_position_embeddings\": 64,", ""));
        Assert.That(c.RopeScaling, Is.EqualTo(new RopeScaling("llama3", 8, 1, 4, 256)));
    }

    [Test]
    public void Parse_RopeParametersWithoutType_IsDefaultRope()
    {
        var c = ModelConfigReader.Parse(MistralV5.Replace(", \"rope_type\": \"default\"", ""));
        Assert.That((c.RopeScaling, c.RopeTheta), Is.EqualTo(((RopeScaling?)null, 10000.0)));
    }

    [Test]
    public void Parse_EmptyRopeScalingBesideRopeParameters_ReadsRopeParameters()
    {
        var c = ModelConfigReader.Parse(LlamaV5.Replace("\"rms_norm_eps\"", "\"rope_scaling\": {}, \"rms_norm_eps\""));
        Assert.That((c.RopeTheta, c.RopeScaling?.Type), Is.EqualTo((500000.0, "llama3")));
    }

    [TestCase("\"rope_type\": \"llama3\"", "\"rope_type\": \"yarn\"", "rope_parameters.rope_type", typeof(UnsupportedModelException))]
    [TestCase(",\n    \"rope_type\": \"llama3\"", "", "rope_parameters.rope_type", typeof(InvalidFileException))]
    [TestCase("\"rope_theta\": 500000.0", "\"rope_theta\": 500000.0, \"partial_rotary_factor\": 0.5", "rope_parameters.partial_rotary_factor", typeof(UnsupportedModelException))]
    [TestCase("\"low_freq_factor\": 1.0", "\"low_freq_factor\": 9.0", "rope_parameters.high_freq_factor", typeof(InvalidFileException))]
    [TestCase("\"rope_theta\": 500000.0", "\"rope_theta\": 0.5", "rope_parameters.rope_theta", typeof(InvalidFileException))]
    public void Parse_BadRopeParameters_NamesTheFieldInsideRopeParameters(string from, string to, string field, Type error)
    {
        var json = LlamaV5.Replace(from, to);
        Assert.That(json, Is.Not.EqualTo(LlamaV5), "the edit applies");
        var e = Bad(json);
        Assert.That((e.GetType(), e.Field), Is.EqualTo((error, field)));
    }

    [Test]
    public void Parse_PerLayerTypeRopeParameters_IsUnsupported()
    {
        var e = Bad(Qwen2V5.Replace("\"rope_parameters\": {\"rope_theta\": 10000.0, \"rope_type\": \"default\"}",
            "\"rope_parameters\": {\"full_attention\": {\"rope_theta\": 10000.0, \"rope_type\": \"default\"}, \"sliding_attention\": {\"rope_theta\": 10000.0, \"rope_type\": \"default\"}}"));
        Assert.That((e.GetType(), e.Field), Is.EqualTo((typeof(UnsupportedModelException), "rope_parameters.full_attention")));
    }
}
