using CsCheck;
using OnnxInterp.Checkpoints;
using OnnxInterp.Checkpoints.Families;

namespace OnnxInterp.Tests.Checkpoints;

public class ModelConfigTests
{
    const string Llama = """
        {"architectures":["LlamaForCausalLM"],"hidden_size":2048,"intermediate_size":8192,"num_hidden_layers":16,
         "num_attention_heads":32,"num_key_value_heads":8,"vocab_size":128256,"rms_norm_eps":1e-5,"rope_theta":500000.0,
         "rope_scaling":{"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,"original_max_position_embeddings":8192,"rope_type":"llama3"},
         "tie_word_embeddings":true,"hidden_act":"silu","max_position_embeddings":131072,"bos_token_id":128000,
         "eos_token_id":[128001,128008,128009],"torch_dtype":"bfloat16"}
        """;

    [Test]
    public void Parse_Llama32Config_ReadsEveryField()
    {
        var c = ModelConfigReader.Parse(Llama);
        Assert.Multiple(() =>
        {
            Assert.That(c.Family, Is.EqualTo(ModelFamilies.Llama));
            Assert.That((c.HiddenSize, c.IntermediateSize, c.NumLayers, c.NumHeads, c.NumKvHeads, c.HeadDim, c.VocabSize),
                Is.EqualTo((2048, 8192, 16, 32, 8, 64, 128256)));
            Assert.That(c.RopeScaling, Is.EqualTo(new RopeScaling("llama3", 32, 1, 4, 8192)));
            Assert.That(c.TieWordEmbeddings, Is.True);
            Assert.That(c.EosTokenIds, Is.EqualTo(new[] { 128001, 128008, 128009 }));
            Assert.That(c.QkvBias || c.OProjBias || c.MlpBias, Is.False);
            Assert.That(c.SlidingWindow, Is.Null);
            // Llama-3.2-1B has 1,235,814,400 parameters.
            Assert.That(c.ParameterCount, Is.EqualTo(1_235_814_400));
        });
    }

    [Test]
    public void Parse_Qwen2_HasQkvBiasOnly_AndNoWindowByDefault()
    {
        var c = ModelConfigReader.Parse("""{"architectures":["Qwen2ForCausalLM"],"hidden_size":896,"intermediate_size":4864,"num_hidden_layers":24,"num_attention_heads":14,"num_key_value_heads":2,"vocab_size":151936,"use_sliding_window":false,"sliding_window":32768,"max_window_layers":21,"mlp_bias":true}""");
        Assert.That((c.QkvBias, c.OProjBias, c.MlpBias, c.SlidingWindow), Is.EqualTo((true, false, false, (int?)null)));
    }

    [Test]
    public void Parse_Mistral_DefaultWindowIs4096_ExplicitNullDisables()
    {
        const string baseJson = "\"architectures\":[\"MistralForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":96,\"num_hidden_layers\":2,\"num_attention_heads\":4,\"vocab_size\":10";
        Assert.That(ModelConfigReader.Parse("{" + baseJson + "}").SlidingWindow, Is.EqualTo(4096));
        Assert.That(ModelConfigReader.Parse("{" + baseJson + ",\"sliding_window\":null}").SlidingWindow, Is.Null);
    }

    static OnnxInterpException Bad(string json) => Assert.Catch<OnnxInterpException>(() => ModelConfigReader.Parse(json, "/m/config.json"))!;

    [Test]
    public void Parse_UnknownArchitecture_IsUnsupportedNamingFieldAndValue()
    {
        var e = Bad(Llama.Replace("LlamaForCausalLM", "GPT2LMHeadModel"));
        Assert.That(e, Is.TypeOf<UnsupportedModelException>());
        Assert.That((e.File, e.Field, e.Value), Is.EqualTo(("/m/config.json", "architectures", "GPT2LMHeadModel")));
    }

    [Test]
    public void Parse_UnsupportedRopeScaling_IsUnsupportedNamingField()
    {
        var e = Bad(Llama.Replace("\"llama3\"", "\"yarn\""));
        Assert.That(e, Is.TypeOf<UnsupportedModelException>());
        Assert.That((e.Field, e.Value), Is.EqualTo(("rope_scaling.rope_type", "yarn")));
    }

    [TestCase("\"num_key_value_heads\":8", "\"num_key_value_heads\":5", "num_key_value_heads")]
    [TestCase("\"hidden_size\":2048", "\"hidden_size\":-1", "hidden_size")]
    [TestCase("\"hidden_size\":2048", "\"hidden_size\":\"big\"", "hidden_size")]
    [TestCase("\"rms_norm_eps\":1e-5", "\"rms_norm_eps\":0", "rms_norm_eps")]
    [TestCase("\"hidden_act\":\"silu\"", "\"hidden_act\":\"gelu\"", "hidden_act")]
    [TestCase("\"low_freq_factor\":1.0", "\"low_freq_factor\":9.0", "rope_scaling.high_freq_factor")]
    [TestCase("\"vocab_size\":128256,", "", "vocab_size")]
    public void Parse_BadField_NamesIt(string from, string to, string field)
    {
        string edited = Llama.Replace(from, to);
        Assert.That(edited, Is.Not.EqualTo(Llama), "the edit applies");
        Assert.That(Bad(edited).Field, Is.EqualTo(field));
    }

    [Test]
    public void Parse_NotJson_IsInvalidFile() => Assert.That(Bad("{\"architectures\": [\"Llama"), Is.TypeOf<InvalidFileException>());

    /// <summary>Bounded fuzz: random JSON-ish edits of a valid config give a config or a typed error, nothing else.</summary>
    [Test]
    public void Parse_MutatedConfigs_OnlyTypedErrors()
    {
        int typed = 0;
        Gen.Select(Gen.Int[0, Llama.Length - 1], Gen.Int[0, 8], Gen.Char["{}[]\",:0-9aez.-"]).Sample((pos, len, ch) =>
        {
            var s = Llama.Remove(pos, Math.Min(len, Llama.Length - pos)).Insert(pos, ch.ToString());
            try { ModelConfigReader.Parse(s); }
            catch (OnnxInterpException) { typed++; }
        }, iter: 3000, threads: 1);
        Assert.That(typed, Is.GreaterThan(0));
    }
}
