using static OnnxInterp.Tests.Reference.ReferenceTestUtil;

namespace OnnxInterp.Tests.Reference;

[TestFixture]
public class ReferenceConfigTests
{
    private static IEnumerable<TinyCheckpointSpec> RoundTripSpecs() => VariedSpecs().Concat(
    [
        new TinyCheckpointSpec("mistral"),
        new TinyCheckpointSpec("qwen2") { SlidingWindow = 4, UseSlidingWindow = false, MaxWindowLayers = 1 },
        new TinyCheckpointSpec("qwen2") { NumHeads = 8, NumKvHeads = 8, HeadDim = 8, Tied = true },
        new TinyCheckpointSpec("llama") { NumHeads = 2, NumKvHeads = 1, HeadDim = 24 },
    ]);

    [TestCaseSource(nameof(RoundTripSpecs))]
    public void FromHfConfigJson_RoundTripsFactoryConfig(TinyCheckpointSpec spec)
    {
        var ckpt = TinyCheckpointFactory.Create(spec);
        var parsed = ReferenceConfig.FromHfConfigJson(ckpt.ConfigJson);
        Assert.That(parsed, Is.EqualTo(ckpt.Config), ckpt.ConfigJson);
        Assert.That(parsed.SlidingLayers, Is.EqualTo(ckpt.Config.SlidingLayers));
    }

    [Test]
    public void Factory_WeightsHaveHfNamesShapesAndFamilyBiases()
    {
        var q = TinyCheckpointFactory.Create(new TinyCheckpointSpec("qwen2") { Tied = true });
        Assert.That(q.Weights.ContainsKey("lm_head.weight"), Is.False);
        Assert.That(q.Shapes["model.layers.0.self_attn.k_proj.weight"], Is.EqualTo(new[] { 32, 64 }));
        Assert.That(q.Shapes["model.layers.2.self_attn.q_proj.bias"], Is.EqualTo(new[] { 64 }));
        Assert.That(q.Weights["model.layers.1.self_attn.v_proj.bias"].Any(x => x != 0), Is.True);
        Assert.That(q.Weights.ContainsKey("model.layers.0.self_attn.o_proj.bias"), Is.False);
        foreach (var (name, w) in q.Weights)
            Assert.That(w.Length, Is.EqualTo(q.Shapes[name].Aggregate(1, (x, y) => x * y)), name);

        var l = TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama"));
        Assert.That(l.Weights.Keys.Any(k => k.EndsWith(".bias", StringComparison.Ordinal)), Is.False);
        Assert.That(l.Shapes["lm_head.weight"], Is.EqualTo(new[] { 97, 64 }));
        Assert.That(l.Shapes["model.layers.0.mlp.down_proj.weight"], Is.EqualTo(new[] { 64, 96 }));

        // Deterministic in the seed.
        var l2 = TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama"));
        Assert.That(l2.Weights["model.layers.1.mlp.up_proj.weight"], Is.EqualTo(l.Weights["model.layers.1.mlp.up_proj.weight"]));
    }

    [Test]
    public void MissingWeight_Throws()
    {
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("qwen2"));
        var w = new Dictionary<string, float[]>(ckpt.Weights);
        w.Remove("model.layers.1.self_attn.k_proj.bias");
        Assert.Throws<KeyNotFoundException>(() => _ = new ReferenceTransformer(ckpt.Config, w));
    }

    [Test]
    public void ParsesRealisticLlama32Config()
    {
        const string Json = """
        {
          "architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 128000,
          "eos_token_id": [128001, 128008, 128009], "head_dim": 64, "hidden_act": "silu", "hidden_size": 2048,
          "intermediate_size": 8192, "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
          "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
          "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                           "original_max_position_embeddings": 8192, "rope_type": "llama3"},
          "rope_theta": 500000.0, "tie_word_embeddings": true, "torch_dtype": "bfloat16", "vocab_size": 128256
        }
        """;
        var c = ReferenceConfig.FromHfConfigJson(Json);
        Assert.That(c, Is.EqualTo(new ReferenceConfig
        {
            HiddenSize = 2048, IntermediateSize = 8192, NumLayers = 16, NumHeads = 32, NumKvHeads = 8, HeadDim = 64,
            VocabSize = 128256, RmsNormEps = 1e-5, RopeTheta = 500000, TieWordEmbeddings = true,
            RopeScaling = new RopeScalingSpec("llama3", 32, 1, 4, 8192),
        }));
    }

    [Test]
    public void ParsesDefaultsAndSynonyms()
    {
        // No num_key_value_heads / head_dim / rope_theta; old-style "type" key; Qwen2 window rules.
        const string Json = """
        {
          "architectures": ["Qwen2ForCausalLM"], "hidden_size": 96, "intermediate_size": 128,
          "num_hidden_layers": 4, "num_attention_heads": 6, "vocab_size": 50, "rms_norm_eps": 1e-06,
          "rope_scaling": {"type": "linear", "factor": 4.0},
          "use_sliding_window": true, "sliding_window": 32, "max_window_layers": 2, "tie_word_embeddings": false
        }
        """;
        var c = ReferenceConfig.FromHfConfigJson(Json);
        Assert.That(c.NumKvHeads, Is.EqualTo(6));
        Assert.That(c.HeadDim, Is.EqualTo(16));
        Assert.That(c.RopeTheta, Is.EqualTo(10000.0));
        Assert.That(c.RopeScaling, Is.EqualTo(new RopeScalingSpec("linear", 4, 0, 0, 0)));
        Assert.That(c.QkvBias && !c.OProjBias && !c.MlpBias, Is.True);
        Assert.That(c.SlidingWindow, Is.EqualTo(32));
        Assert.That(c.SlidingLayers, Is.EqualTo(new[] { false, false, true, true }));

        var mistral = ReferenceConfig.FromHfConfigJson("""
        {"architectures": ["MistralForCausalLM"], "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 10, "sliding_window": 4096,
         "attention_bias": true, "rope_scaling": null}
        """);
        Assert.That(mistral.SlidingWindow, Is.EqualTo(4096));
        Assert.That(mistral.SlidingLayers, Is.Null);
        Assert.That(mistral.IsSlidingLayer(1), Is.True);
        Assert.That(mistral.QkvBias || mistral.OProjBias, Is.False, "MistralAttention has no biases");
        Assert.That(mistral.RopeScaling, Is.Null);

        // Absent sliding_window takes the HF class default (4096); explicit null means no window.
        var noKey = ReferenceConfig.FromHfConfigJson("""
        {"model_type": "mistral", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 4, "vocab_size": 10}
        """);
        Assert.That(noKey.SlidingWindow, Is.EqualTo(4096));
        var nullKey = ReferenceConfig.FromHfConfigJson("""
        {"model_type": "mistral", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 4, "vocab_size": 10, "sliding_window": null}
        """);
        Assert.That(nullKey.SlidingWindow, Is.Null);

        Assert.Throws<NotSupportedException>(() => ReferenceConfig.FromHfConfigJson("""
        {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}
        """));
    }
}
