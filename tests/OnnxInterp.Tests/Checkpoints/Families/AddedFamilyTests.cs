using System.Text.Json.Nodes;
using OnnxInterp.Checkpoints;
using OnnxInterp.Checkpoints.Families;
using OnnxInterp.Export;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Export;
using OnnxInterp.Tests.Reference;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Checkpoints.Families;

/// <summary>
/// Adding a family is one declaration: <see cref="Llamalike"/>, a Llama variant with its own model_type,
/// architecture and tensor names, registered from outside the library. Read, exported and run through the same path as
/// the built-in families, it gives the Llama reference's numbers and the Llama export's graph and weights.
/// </summary>
public class AddedFamilyTests
{
    /// <summary>The whole family. Everything else in this file checks it.</summary>
    static readonly ModelFamily Llamalike = ModelFamilies.Llama with
    {
        Name = "Llamalike",
        ModelType = "llamalike",
        Architectures = ["LlamalikeForCausalLM"],
        Tensors = new TensorNames
        {
            Embed = "transformer.wte.weight",
            FinalNorm = "transformer.ln_f.weight",
            LmHead = "output.weight",
            Layer = "transformer.h.{0}",
            InputNorm = "ln_attn.weight",
            PostAttentionNorm = "ln_mlp.weight",
            QProj = "attn.wq",
            KProj = "attn.wk",
            VProj = "attn.wv",
            OProj = "attn.wo",
            GateProj = "ffn.w1",
            UpProj = "ffn.w3",
            DownProj = "ffn.w2",
        },
        DeployedAliases = [],
    };

    /// <summary>
    /// The tiny Llama checkpoint as the added family stores it: its architecture and model_type in config.json, every
    /// tensor under its name. Both families list their tensors in the same order, so the names pair up.
    /// </summary>
    static TinyCheckpoint AsLlamalike(TinyCheckpoint llama)
    {
        var json = JsonNode.Parse(llama.ConfigJson)!.AsObject();
        json["architectures"] = new JsonArray(Llamalike.Architectures[0]);
        json["model_type"] = Llamalike.ModelType;
        var configJson = json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
        var from = WeightNames.Expected(ModelConfigReader.Parse(llama.ConfigJson)).Select(t => t.Name).ToList();
        var to = WeightNames.Expected(ModelConfigReader.Parse(configJson)).Select(t => t.Name).ToList();
        Assert.That(to, Has.Count.EqualTo(from.Count).And.Count.EqualTo(llama.Weights.Count));
        Assert.That(to.Intersect(from), Is.Empty, "the added family names every tensor differently");
        var rename = from.Zip(to).ToDictionary(p => p.First, p => p.Second);
        return llama with
        {
            Weights = llama.Weights.ToDictionary(kv => rename[kv.Key], kv => kv.Value),
            Shapes = llama.Shapes.ToDictionary(kv => rename[kv.Key], kv => kv.Value),
            ConfigJson = configJson,
        };
    }

    public static IEnumerable<TestCaseData> Cases()
    {
        yield return new TestCaseData(new TinyCheckpointSpec("llama") { AttentionBias = true, MlpBias = true, Seed = 41 }).SetName("Llamalike_UntiedWithEveryBias");
        yield return new TestCaseData(new TinyCheckpointSpec("llama") { Tied = true, RopeScaling = TinyCheckpointSpec.Llama3Scaling, Seed = 42 }).SetName("Llamalike_TiedLlama3Rope");
    }

    [TestCaseSource(nameof(Cases))]
    public void Export_RegisteredFamily_MatchesTheLlamaReferenceAndTheLlamaExport(TinyCheckpointSpec spec)
    {
        using var registration = ModelFamilies.Register(Llamalike);
        var llama = TinyCheckpointFactory.Create(spec);
        using var tmp = new TempDir();
        ModelExporter.Export(TestCheckpoints.Write(llama, tmp.Sub("llama-hf")), tmp.Sub("llama-onnx"));
        ModelExporter.Export(TestCheckpoints.Write(AsLlamalike(llama), tmp.Sub("added-hf")), tmp.Sub("added-onnx"));
        using var session = ModelSession.Open(tmp.Sub("added-onnx"));

        var m = session.Manifest;
        Assert.That(m.Family, Is.SameAs(Llamalike), "the manifest's family name reads back as the registered family");
        Assert.That(m.Config.Family, Is.SameAs(Llamalike));
        Assert.That(m.Architecture, Is.EqualTo("LlamalikeForCausalLM"));
        Assert.That(JsonNode.Parse(File.ReadAllText(Path.Combine(tmp.Sub("added-onnx"), ModelExporter.GenAiConfigFile)))!["model"]!["type"]!.GetValue<string>(),
            Is.EqualTo("llama"));

        // The graph names its initializers in one layout whatever the checkpoint called them: the weights file and every
        // graph that records no architecture are the Llama export's, byte for byte.
        foreach (var file in new[] { ModelExporter.DataFile, ModelExporter.DecodeFile, ModelExporter.HeadFile, ModelExporter.LayerFile(0), ModelExporter.LayerFile(spec.NumLayers - 1) })
            Assert.That(File.ReadAllBytes(Path.Combine(tmp.Sub("added-onnx"), file)), Is.EqualTo(File.ReadAllBytes(Path.Combine(tmp.Sub("llama-onnx"), file))), file);

        var rng = new Random(spec.Seed);
        int[][] prompts = [ExportFidelityTests.Tokens(rng, 9, spec.VocabSize), ExportFidelityTests.Tokens(rng, 5, spec.VocabSize)];
        var request = ForwardRequest.FromPrompts(prompts) with { Hooks = ["*"] };
        var actual = session.Run(request);
        var mask = request.AttentionMask!;
        var expected = new ReferenceTransformer(llama.Config, llama.Weights).Forward(request.InputIds, mask, ExportFidelityTests.ForwardRequestPositions(mask));
        Assert.That(Compare.MaxRelativeError(actual.Logits, expected.Logits, mask), Is.LessThanOrEqualTo(1e-4), "logits");
        foreach (var (name, value) in expected.Hooks)
            Assert.That(Compare.MaxRelativeError(actual.Cache[name], value, mask), Is.LessThanOrEqualTo(1e-4), name);
    }

    [Test]
    public void RandomCheckpoint_RegisteredFamily_WritesItsNamesAndOpens()
    {
        using var registration = ModelFamilies.Register(Llamalike);
        using var tmp = new TempDir();
        RandomCheckpoint.Write(tmp.Sub("hf"), new RandomCheckpointSpec { Family = Llamalike, Layers = 2 });
        using var ckpt = HfCheckpoint.Open(tmp.Sub("hf"));
        Assert.That(ckpt.Config.Family, Is.SameAs(Llamalike));
        Assert.That(ckpt.TensorNames, Is.EquivalentTo(WeightNames.Expected(ckpt.Config).Select(t => t.Name)));
        Assert.That(ckpt.TensorNames, Does.Contain("transformer.h.1.ffn.w2.weight"));
    }

    [Test]
    public void Register_Disposed_TheFamilyIsUnknownAgain()
    {
        string json;
        using (ModelFamilies.Register(Llamalike))
        {
            json = AsLlamalike(TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama"))).ConfigJson;
            Assert.That(ModelConfigReader.Parse(json).Family, Is.SameAs(Llamalike));
            Assert.That(ModelFamilies.All, Does.Contain(Llamalike));
        }
        Assert.That(ModelFamilies.All, Is.EqualTo(new[] { ModelFamilies.Llama, ModelFamilies.Mistral, ModelFamilies.Qwen2 }));
        var e = Assert.Throws<UnsupportedModelException>(() => ModelConfigReader.Parse(json, "/m/config.json"))!;
        Assert.That((e.File, e.Field, e.Value), Is.EqualTo(("/m/config.json", "architectures", "LlamalikeForCausalLM")));
        Assert.That(e.Message, Does.Contain("LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM"));
    }

    [TestCase("name", "family.name")]
    [TestCase("modelType", "family.modelType")]
    [TestCase("architecture", "family.architectures")]
    [TestCase("rope", "family.ropeTypes")]
    [TestCase("layer", "family.tensors.layer")]
    [TestCase("empty", "family.genAiModelType")]
    public void Register_BadFamily_IsRefusedNamingTheField(string what, string field)
    {
        var bad = what switch
        {
            "name" => Llamalike with { Name = "LLAMA" },
            "modelType" => Llamalike with { ModelType = "qwen2" },
            "architecture" => Llamalike with { Architectures = ["LlamalikeForCausalLM", "MistralForCausalLM"] },
            "rope" => Llamalike with { RopeTypes = ["default", "yarn"] },
            "layer" => Llamalike with { Tensors = Llamalike.Tensors with { Layer = "transformer.h" } },
            _ => Llamalike with { GenAiModelType = "" },
        };
        var e = Assert.Throws<InvalidArgumentException>(() => ModelFamilies.Register(bad))!;
        Assert.That(e.Field, Is.EqualTo(field));
        Assert.That(ModelFamilies.All, Has.Count.EqualTo(3));
    }
}
