using OnnxInterp.Data;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Trainer.Family;

/// <summary>
/// Judging accuracy measured inside the trainer during training (the trainer's own forward pass, right-padded
/// batches): on held-out statements and on a sample of judged ones, with the paper's few-shot prompt. It tells
/// whether the model learns to judge what it knows or only memorises the judged labels. The shipped figures are
/// measured through the exporter and ORT instead (<see cref="FamilyEval"/>).
/// </summary>
public sealed class JudgeProbe
{
    const int Batch = 32;

    /// <summary>A few-shot judging prompt (token ids) and whether its statement is true.</summary>
    public readonly record struct Item(string Dataset, int[] Ids, bool True);

    readonly List<Item> _heldOut = [], _judged = [];

    /// <summary>Every held-out statement, true and false, in its few-shot prompt.</summary>
    public IReadOnlyList<Item> HeldOut => _heldOut;

    /// <summary>A sample of judged statements (the first four are the few-shot examples, skipped).</summary>
    public IReadOnlyList<Item> Judged => _judged;
    readonly int _trueId, _falseId, _pad, _seqLen;

    public JudgeProbe(FamilyCorpus corpus, HfTokenizer tok, int pad, int seed, int judgedPerDataset = 30)
    {
        _trueId = tok.Encode(" TRUE", false).Single();
        _falseId = tok.Encode(" FALSE", false).Single();
        _pad = pad;
        var rng = new Random(seed);
        foreach (var ds in SyntheticWorld.StatementDatasets)
        {
            var shots = corpus.World.FewShot(ds);
            void Add(List<Item> to, IEnumerable<WorldFact> facts)
            {
                foreach (var f in facts)
                {
                    to.Add(new Item(ds, tok.Encode(FamilyCorpus.FewShotPrompt(shots, f.True, rng)), true));
                    to.Add(new Item(ds, tok.Encode(FamilyCorpus.FewShotPrompt(shots, f.False, rng)), false));
                }
            }
            Add(_heldOut, corpus.World.HeldOut(ds));
            Add(_judged, corpus.World.Judged(ds).Skip(4).Take(judgedPerDataset));
        }
        _seqLen = _heldOut.Concat(_judged).Max(i => i.Ids.Length);
    }

    /// <summary>Accuracy on held-out and on judged statements, and the held-out accuracy per dataset.</summary>
    public (double HeldOut, double Judged, IReadOnlyDictionary<string, double> ByDataset) Evaluate(TinyLlama model)
    {
        var pass = new TrainingPass(model, Batch, _seqLen);
        var heldOk = Score(pass, _heldOut);
        var judgedOk = Score(pass, _judged);
        var byDataset = _heldOut.Select((it, i) => (it.Dataset, Ok: heldOk[i])).GroupBy(x => x.Dataset)
            .ToDictionary(g => g.Key, g => g.Average(x => x.Ok ? 1.0 : 0.0));
        return (heldOk.Average(o => o ? 1.0 : 0.0), judgedOk.Average(o => o ? 1.0 : 0.0), byDataset);
    }

    bool[] Score(TrainingPass pass, List<Item> items)
    {
        var ok = new bool[items.Count];
        var ids = new int[Batch * _seqLen];
        int v = pass.Logits.Length / (pass.Batch * pass.SeqLen);
        for (int start = 0; start < items.Count; start += Batch)
        {
            Array.Fill(ids, _pad);
            int n = Math.Min(Batch, items.Count - start);
            for (int b = 0; b < n; b++) items[start + b].Ids.CopyTo(ids, b * _seqLen);
            pass.Forward(ids);
            var logits = pass.Logits;
            for (int b = 0; b < n; b++)
            {
                // Right padding: the causal mask keeps the prompt's last position blind to the padding after it.
                int last = b * _seqLen + items[start + b].Ids.Length - 1;
                var row = logits.Slice(last * v, v);
                ok[start + b] = (row[_trueId] > row[_falseId]) == items[start + b].True;
            }
        }
        return ok;
    }
}
