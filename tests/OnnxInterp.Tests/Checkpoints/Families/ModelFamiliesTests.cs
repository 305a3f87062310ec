using OnnxInterp.Checkpoints;
using OnnxInterp.Checkpoints.Families;
using OnnxInterp.Export;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Checkpoints.Families;

public class ModelFamiliesTests
{
    [Test]
    public void Find_ByArchitectureModelTypeAndName_GivesTheBuiltInFamilies()
    {
        Assert.Multiple(() =>
        {
            Assert.That(ModelFamilies.All, Is.EqualTo(new[] { ModelFamilies.Llama, ModelFamilies.Mistral, ModelFamilies.Qwen2 }));
            Assert.That(ModelFamilies.FindByArchitecture("MistralForCausalLM"), Is.SameAs(ModelFamilies.Mistral));
            Assert.That(ModelFamilies.FindByArchitecture("mistralforcausallm"), Is.Null, "architectures are case-sensitive, as in transformers");
            Assert.That(ModelFamilies.FindByModelType("qwen2"), Is.SameAs(ModelFamilies.Qwen2));
            Assert.That(ModelFamilies.FindByModelType(null), Is.Null);
            Assert.That(ModelFamilies.FindByName("llama"), Is.SameAs(ModelFamilies.Llama), "manifest names in any case");
            Assert.That(ModelFamilies.Default, Is.SameAs(ModelFamilies.Llama));
        });
    }

    [Test]
    public void Parse_ModelTypeWithoutArchitectures_ReadsTheFamilysArchitecture()
    {
        var c = ModelConfigReader.Parse("""{"model_type":"qwen2","hidden_size":64,"intermediate_size":96,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":10}""");
        Assert.That((c.Family, c.Architecture, c.QkvBias), Is.EqualTo((ModelFamilies.Qwen2, "Qwen2ForCausalLM", true)));
    }

    [TestCase("llama", "Llama", "LlamaForCausalLM")]
    [TestCase("mistral", "Mistral", "MistralForCausalLM")]
    [TestCase("qwen2", "Qwen2", "Qwen2ForCausalLM")]
    [TestCase("phi3", "Llama", "Phi3ForCausalLM")]
    public void FromGenAiType_KnownType_GivesFamilyAndArchitecture(string type, string family, string architecture)
    {
        var (f, a) = ModelFamilies.FromGenAiType(type, "genai_config.json");
        Assert.That((f.Name, a), Is.EqualTo((family, architecture)));
    }

    [Test]
    public void FromGenAiType_UnknownType_IsUnsupportedNamingFileFieldAndValue()
    {
        var e = Assert.Throws<UnsupportedModelException>(() => ModelFamilies.FromGenAiType("gpt2", "/m/genai_config.json"))!;
        Assert.That((e.File, e.Field, e.Value), Is.EqualTo(("/m/genai_config.json", "model.type", "gpt2")));
        Assert.That(e.Message, Does.Contain("supported: llama, mistral, qwen2, phi3"));
    }

    [Test]
    public void HelpTexts_ListTheRegisteredFamilies()
    {
        Assert.That(ModelFamilies.NamesText(), Is.EqualTo("Llama, Mistral or Qwen2"));
        Assert.That(ModelFamilies.ModelTypesText(), Is.EqualTo("llama, mistral or qwen2"));
        Assert.That(ModelFamilies.DeployedNamesText(), Is.EqualTo("Llama, Mistral, Qwen2, Phi-3"));
    }

    static string ExportedManifest(TempDir tmp)
    {
        RandomCheckpoint.Write(tmp.Sub("hf"), new RandomCheckpointSpec { Family = ModelFamilies.Mistral, Layers = 1 });
        ModelExporter.Export(tmp.Sub("hf"), tmp.Sub("onnx"), ExportOptions.Plain with { HashSource = false });
        return Path.Combine(tmp.Sub("onnx"), ModelManifest.FileName);
    }

    [Test]
    public void Manifest_Family_IsWrittenAsItsNameAndReadBackAsTheFamily()
    {
        using var tmp = new TempDir();
        var path = ExportedManifest(tmp);
        Assert.That(File.ReadAllText(path), Does.Contain("\"family\": \"Mistral\""));
        var m = ModelManifest.Read(tmp.Sub("onnx"));
        Assert.That((m.Family, m.Config.Family), Is.EqualTo((ModelFamilies.Mistral, ModelFamilies.Mistral)));
    }

    [TestCase("\"family\": \"Mistral\",\n  \"dType\"", "\"family\": \"Gpt2\",\n  \"dType\"", "$.family")]
    [TestCase("\"family\": \"Mistral\",\n  \"dType\"", "\"family\": null,\n  \"dType\"", "family")]
    [TestCase("\"family\": \"Mistral\",\n    \"architecture\"", "\"family\": 1,\n    \"architecture\"", "$.config.family")]
    public void Manifest_BadFamily_IsInvalidFileNamingTheField(string from, string to, string field)
    {
        using var tmp = new TempDir();
        var path = ExportedManifest(tmp);
        var text = File.ReadAllText(path);
        Assert.That(text, Does.Contain(from), "the edit applies");
        File.WriteAllText(path, text.Replace(from, to));
        Assert.That(Assert.Throws<InvalidFileException>(() => ModelManifest.Read(tmp.Sub("onnx")))!.Field, Is.EqualTo(field));
    }
}
