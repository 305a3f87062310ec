using OnnxInterp.Checkpoints;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Analysis.Refusal;

/// <summary>
/// Two tiny random models exported for the refusal tests: "a" a base (plain template), "b" declaring the Tulu template.
/// </summary>
public abstract class RefusalModelsFixture
{
    protected TempDir _tmp = null!;
    protected ModelSession _a = null!, _b = null!;

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        foreach (var (name, seed) in new[] { ("a", 1), ("b", 2) })
        {
            RandomCheckpoint.Write(_tmp.Sub(name + "-hf"), new RandomCheckpointSpec { Layers = 2, Seed = seed });
            File.WriteAllText(Path.Combine(_tmp.Sub(name + "-hf"), "tokenizer_config.json"),
                $$"""{"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": true{{(name == "b" ? ", \"onnxinterp_chat_template\": \"tulu\"" : "")}}}""");
            OnnxInterp.Export.ModelExporter.Export(_tmp.Sub(name + "-hf"), _tmp.Sub(name), new OnnxInterp.Export.ExportOptions { HashSource = false });
        }
        _a = ModelSession.Open(_tmp.Sub("a"));
        _b = ModelSession.Open(_tmp.Sub("b"));
    }

    [OneTimeTearDown]
    public void TearDown()
    {
        _a.Dispose();
        _b.Dispose();
        _tmp.Dispose();
    }
}
