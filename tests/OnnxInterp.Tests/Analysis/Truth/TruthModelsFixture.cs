using OnnxInterp.Checkpoints;
using OnnxInterp.Data;
using OnnxInterp.Export;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;
using OnnxInterp.Tokenization;
using OnnxInterp.Analysis.Truth;

namespace OnnxInterp.Tests.Analysis.Truth;

/// <summary>
/// Two random 2-layer models (base, post) with a byte-level BPE trained on the synthetic world's cities and animals, of
/// each kind (<see cref="HookedModels"/>: exported to ONNX, and the reference on the checkpoint), and those datasets:
/// the setting the truth tests check against one-statement-at-a-time computations.
/// </summary>
public abstract class TruthModelsFixture
{
    protected TempDir _tmp = null!;
    protected SyntheticWorld _world = null!;
    protected HfTokenizer _tokenizer = null!;
    readonly Dictionary<string, (IHookedModel Base, IHookedModel Post)> _models = [];

    protected IHookedModel Base(string kind) => _models[kind].Base;
    protected IHookedModel Post(string kind) => _models[kind].Post;

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        _world = SyntheticWorld.Generate(4);
        var corpus = new[] { SyntheticWorld.Cities, SyntheticWorld.Animals }
            .SelectMany(d => _world.ToDataset(d).Statements).Select(s => s.Text + " This statement is: TRUE FALSE");
        var tokenizerJson = BpeTrainer.TrainByteLevel(corpus, new BpeTrainer.Options(600, ["<s>", "</s>"], "<s>"));
        foreach (var (name, seed) in new[] { ("base", 1), ("post", 2) })
        {
            RandomCheckpoint.Write(_tmp.Sub(name + "-hf"), new RandomCheckpointSpec { Layers = 2, Seed = seed, VocabSize = 600 });
            File.WriteAllText(Path.Combine(_tmp.Sub(name + "-hf"), "tokenizer.json"), tokenizerJson);
        }
        foreach (var kind in HookedModels.Kinds)
            _models[kind] = (HookedModels.Open(kind, _tmp.Sub("base-hf"), _tmp.Sub("base")), HookedModels.Open(kind, _tmp.Sub("post-hf"), _tmp.Sub("post")));
        _tokenizer = HfTokenizer.FromDirectory(_tmp.Sub("base"));
    }

    [OneTimeTearDown]
    public void TearDown()
    {
        foreach (var (b, p) in _models.Values)
        {
            HookedModels.Dispose(b);
            HookedModels.Dispose(p);
        }
        _models.Clear();
        _tmp.Dispose();
    }

    protected List<TruthDataset> Datasets(int statements) =>
        new[] { SyntheticWorld.Cities, SyntheticWorld.Animals }.Select(d =>
        {
            var data = _world.ToDataset(d);
            return new TruthDataset(data with { Statements = data.Statements.Take(statements).ToList() }, _world.FewShot(d));
        }).ToList();

    /// <summary>mean(true) − mean(false) over the datasets' rows, each dataset centred, captured one statement at a time.</summary>
    protected double[] ReferenceDirection(IHookedModel session, IReadOnlyList<IReadOnlyList<Statement>> datasets, int layer)
    {
        var rows = new List<(double[] X, int Label)>();
        foreach (var statements in datasets)
        {
            var acts = statements.Select(s =>
            {
                var t = _tokenizer.Encode(s.Text);
                var r = session.Run(new ForwardRequest([t]) { Hooks = [$"blocks.{layer}.hook_resid_post"] });
                return r[HookName.ResidPost(layer)].Vector(0, t.Length - 1).ToArray().Select(v => (double)v).ToArray();
            }).ToList();
            var mean = Enumerable.Range(0, acts[0].Length).Select(j => acts.Average(a => a[j])).ToArray();
            rows.AddRange(acts.Select((a, i) => (a.Select((v, j) => v - mean[j]).ToArray(), statements[i].Label)));
        }
        int d = rows[0].X.Length;
        return Enumerable.Range(0, d).Select(j => rows.Where(r => r.Label == 1).Average(r => r.X[j]) - rows.Where(r => r.Label == 0).Average(r => r.X[j])).ToArray();
    }
}
