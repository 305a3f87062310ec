using OnnxInterp.Checkpoints;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Analysis.Refusal;

/// <summary>
/// Two tiny random models for the refusal tests, "a" a base (plain template), "b" declaring the Tulu template, of each
/// kind (<see cref="HookedModels"/>: exported to ONNX, and the reference on the checkpoint).
/// </summary>
public abstract class RefusalModelsFixture
{
    protected TempDir _tmp = null!;
    readonly Dictionary<string, (IHookedModel A, IHookedModel B)> _models = [];

    protected IHookedModel A(string kind) => _models[kind].A;
    protected IHookedModel B(string kind) => _models[kind].B;

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        foreach (var (name, seed) in new[] { ("a", 1), ("b", 2) })
        {
            RandomCheckpoint.Write(_tmp.Sub(name + "-hf"), new RandomCheckpointSpec { Layers = 2, Seed = seed });
            File.WriteAllText(Path.Combine(_tmp.Sub(name + "-hf"), "tokenizer_config.json"),
                $$"""{"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": true{{(name == "b" ? ", \"onnxinterp_chat_template\": \"tulu\"" : "")}}}""");
        }
        foreach (var kind in HookedModels.Kinds)
            _models[kind] = (HookedModels.Open(kind, _tmp.Sub("a-hf"), _tmp.Sub("a")), HookedModels.Open(kind, _tmp.Sub("b-hf"), _tmp.Sub("b")));
    }

    [OneTimeTearDown]
    public void TearDown()
    {
        foreach (var (a, b) in _models.Values)
        {
            HookedModels.Dispose(a);
            HookedModels.Dispose(b);
        }
        _models.Clear();
        _tmp.Dispose();
    }
}
