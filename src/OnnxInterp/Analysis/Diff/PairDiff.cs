using System.Numerics.Tensors;
using OnnxInterp.Runtime;

namespace OnnxInterp.Analysis.Diff;

/// <summary>
/// The running statistics of one base → post-trained pair, batch by batch: each batch's two forward results (logits and
/// every resid_post) are read once; the lens runs the heads on the captured residual streams (nothing is run again).
/// </summary>
sealed class PairDiff
{
    readonly DiffOptions _o;
    readonly LensHead _baseHead, _postHead;
    readonly int _layers, _vocab, _hidden, _directionLayer;

    // Activation statistics per layer (first token of each prompt left out).
    readonly double[] _diffNorm, _baseNorm, _relative, _cosine, _relTemplate, _relContent;
    readonly int[] _count, _countTemplate, _countContent;

    // Lens statistics per layer, over every token.
    readonly double[] _baseKl, _postKl, _lensKl, _pbOwn, _pbHead, _bpOwn, _bpHead;
    readonly int[] _baseAgree, _postAgree, _lensAgree;
    readonly List<int>[] _baseRanks, _postRanks;
    int _lensTokens;

    readonly List<TokenDiff> _tokens = [];
    readonly List<PromptGrid> _grids = [];
    readonly List<float[]> _samples = [];
    double _sampleNorm;

    // Per-token scratch, one vocabulary long each.
    readonly float[] _pFinalB, _pFinalP, _lpB, _pB, _lpP, _pP, _scratch;

    public PairDiff(DiffOptions options, LensHead baseHead, LensHead postHead, int layers, int directionLayer)
    {
        _o = options;
        _baseHead = baseHead;
        _postHead = postHead;
        _layers = layers;
        _vocab = baseHead.Vocab;
        _hidden = baseHead.Hidden;
        _directionLayer = directionLayer;
        double[] D() => new double[layers];
        int[] I() => new int[layers];
        (_diffNorm, _baseNorm, _relative, _cosine, _relTemplate, _relContent) = (D(), D(), D(), D(), D(), D());
        (_count, _countTemplate, _countContent) = (I(), I(), I());
        (_baseKl, _postKl, _lensKl, _pbOwn, _pbHead, _bpOwn, _bpHead) = (D(), D(), D(), D(), D(), D(), D());
        (_baseAgree, _postAgree, _lensAgree) = (I(), I(), I());
        _baseRanks = Enumerable.Range(0, layers).Select(_ => new List<int>()).ToArray();
        _postRanks = Enumerable.Range(0, layers).Select(_ => new List<int>()).ToArray();
        float[] V() => new float[_vocab];
        (_pFinalB, _pFinalP, _lpB, _pB, _lpP, _pP, _scratch) = (V(), V(), V(), V(), V(), V(), V());
    }

    public IReadOnlyList<TokenDiff> Tokens => _tokens;
    public IReadOnlyList<PromptGrid> Grids => _grids;

    /// <summary>The difference vectors at the direction layer: every token but each prompt's first, the first MaxDirectionSamples in batch order.</summary>
    public IReadOnlyList<float[]> Samples => _samples;

    /// <summary>Mean ‖h_post − h_base‖ over <see cref="Samples"/>.</summary>
    public double SampleNorm => _samples.Count == 0 ? 0 : _sampleNorm / _samples.Count;

    /// <summary>Reads one batch: <paramref name="b"/> and <paramref name="p"/> are the base's and the post-trained model's results on the same left-padded rows.</summary>
    public void Add(IReadOnlyList<CorpusPrompt> batch, ForwardResult b, ForwardResult p, CancellationToken cancellation)
    {
        int rows = batch.Count, seq = b.Logits.Shape[1];
        var lb = b.Logits.Data;
        var lp = p.Logits.Data;
        var pad = batch.Select(x => seq - x.Length).ToArray();
        var baseTop = new int[rows][];
        var postTop = new int[rows][];
        var kl = new float[rows][];
        var gain = new float[rows][];
        var grids = new PromptGrid[rows];

        // Outputs: each model's logits become log-probabilities in place (top-1 read first).
        for (int r = 0; r < rows; r++)
        {
            int n = batch[r].Length;
            (baseTop[r], postTop[r], kl[r], gain[r]) = (new int[n], new int[n], new float[n], new float[n]);
            for (int t = 0; t < n; t++)
            {
                var sb = Row(lb, r, pad[r] + t, seq);
                var sp = Row(lp, r, pad[r] + t, seq);
                baseTop[r][t] = Divergence.Top1(sb);
                postTop[r][t] = Divergence.Top1(sp);
                Divergence.LogSoftmax(sb, sb, _pB);
                Divergence.LogSoftmax(sp, sp, _pP);
                kl[r][t] = (float)Divergence.Kl(_pP, sp, sb, _scratch);
                gain[r][t] = t + 1 < n ? sp[batch[r].Ids[t + 1]] - sb[batch[r].Ids[t + 1]] : float.NaN;
            }
            bool lens = _o.Lens;
            grids[r] = new PromptGrid(new float[_layers, n], lens ? new float[_layers, n] : null, lens ? new float[_layers, n] : null,
                lens ? new float[_layers, n] : null, lens ? new int[_layers, n] : null, lens ? new int[_layers, n] : null);
        }

        for (int l = 0; l < _layers; l++)
        {
            cancellation.ThrowIfCancellationRequested();
            var hb = b[HookName.ResidPost(l)];
            var hp = p[HookName.ResidPost(l)];
            Activations(batch, pad, seq, l, hb, hp, grids);
            if (_o.Lens) Lens(batch, pad, seq, l, hb, hp, lb, lp, baseTop, postTop, grids, cancellation);
            if (_o.CrossLens) Cross(batch, pad, seq, l, hb, hp, lb, lp, cancellation);
        }

        for (int r = 0; r < rows; r++)
        {
            var g = grids[r];
            for (int t = 0; t < batch[r].Length; t++)
            {
                int bt = baseTop[r][t], pt = postTop[r][t];
                int baseForms = -1, postForms = -1, split = -1;
                if (g.BaseTop is { } gb && g.PostTop is { } gp)
                {
                    baseForms = FirstFrom(l => gb[l, t] == bt);
                    postForms = FirstFrom(l => gp[l, t] == pt);
                    if (bt != pt) split = FirstFrom(l => gb[l, t] != gp[l, t]);
                }
                _tokens.Add(new TokenDiff(batch[r].Index, t, batch[r].Ids[t], batch[r].Classes[t], t == batch[r].Length - 1, kl[r][t], bt, pt, gain[r][t],
                    baseForms, postForms, split));
            }
            _grids.Add(g);
        }
    }

    /// <summary>The first layer from which <paramref name="holds"/> holds at every layer above; −1 when it fails at the last one.</summary>
    int FirstFrom(Func<int, bool> holds)
    {
        int first = -1;
        for (int l = _layers - 1; l >= 0 && holds(l); l--) first = l;
        return first;
    }

    void Activations(IReadOnlyList<CorpusPrompt> batch, int[] pad, int seq, int l, FloatTensor hb, FloatTensor hp, PromptGrid[] grids)
    {
        var diff = new float[_hidden];
        for (int r = 0; r < batch.Count; r++)
            for (int t = 0; t < batch[r].Length; t++)
            {
                var xb = Row(hb.Data, r, pad[r] + t, seq, _hidden);
                var xp = Row(hp.Data, r, pad[r] + t, seq, _hidden);
                TensorPrimitives.Subtract(xp, xb, diff);
                double dn = TensorPrimitives.Norm(diff), bn = TensorPrimitives.Norm(xb);
                double rel = bn > 0 ? dn / bn : 0;
                grids[r].Relative[l, t] = (float)rel;
                if (t == 0) continue;
                _diffNorm[l] += dn;
                _baseNorm[l] += bn;
                _relative[l] += rel;
                _cosine[l] += TensorPrimitives.CosineSimilarity(xb, xp);
                _count[l]++;
                if (batch[r].Classes[t] == TokenClass.Template) { _relTemplate[l] += rel; _countTemplate[l]++; }
                else { _relContent[l] += rel; _countContent[l]++; }
                if (l == _directionLayer && _samples.Count < _o.MaxDirectionSamples)
                {
                    _samples.Add(diff.ToArray());
                    _sampleNorm += dn;
                }
            }
    }

    void Lens(IReadOnlyList<CorpusPrompt> batch, int[] pad, int seq, int l, FloatTensor hb, FloatTensor hp, float[] lb, float[] lp,
        int[][] baseTop, int[][] postTop, PromptGrid[] grids, CancellationToken cancellation)
    {
        // At the last layer the lens is the output itself.
        bool last = l == _layers - 1;
        var xb = last ? null : _baseHead.Logits(hb, cancellation).Data;
        var xp = last ? null : _postHead.Logits(hp, cancellation).Data;
        for (int r = 0; r < batch.Count; r++)
            for (int t = 0; t < batch[r].Length; t++)
            {
                int s = pad[r] + t;
                var finalB = Row(lb, r, s, seq);
                var finalP = Row(lp, r, s, seq);
                TensorPrimitives.Exp(finalB, _pFinalB);
                TensorPrimitives.Exp(finalP, _pFinalP);
                int bt = baseTop[r][t], pt = postTop[r][t];
                double klB = 0, klP = 0;
                int rankB = 0, rankP = 0, topB = bt, topP = pt;
                ReadOnlySpan<float> lpB = finalB, lpP = finalP, pP = _pFinalP;
                if (!last)
                {
                    var rawB = Row(xb!, r, s, seq);
                    var rawP = Row(xp!, r, s, seq);
                    (rankB, rankP, topB, topP) = (Divergence.Rank(rawB, bt), Divergence.Rank(rawP, pt), Divergence.Top1(rawB), Divergence.Top1(rawP));
                    Divergence.LogSoftmax(rawB, _lpB, _pB);
                    Divergence.LogSoftmax(rawP, _lpP, _pP);
                    klB = Divergence.Kl(_pFinalB, finalB, _lpB, _scratch);
                    klP = Divergence.Kl(_pFinalP, finalP, _lpP, _scratch);
                    lpB = _lpB;
                    lpP = _lpP;
                    pP = _pP;
                }
                double cross = Divergence.Kl(pP, lpP, lpB, _scratch);
                _baseKl[l] += klB;
                _postKl[l] += klP;
                _lensKl[l] += cross;
                if (topB == bt) _baseAgree[l]++;
                if (topP == pt) _postAgree[l]++;
                if (topB == topP) _lensAgree[l]++;
                _baseRanks[l].Add(rankB);
                _postRanks[l].Add(rankP);
                var g = grids[r];
                (g.BaseLensKl![l, t], g.PostLensKl![l, t], g.LensKl![l, t], g.BaseTop![l, t], g.PostTop![l, t]) = ((float)klB, (float)klP, (float)cross, topB, topP);
                if (l == 0) _lensTokens++;
            }
    }

    void Cross(IReadOnlyList<CorpusPrompt> batch, int[] pad, int seq, int l, FloatTensor hb, FloatTensor hp, float[] lb, float[] lp, CancellationToken cancellation)
    {
        var postInBase = _baseHead.Logits(hp, cancellation).Data;
        var baseInPost = _postHead.Logits(hb, cancellation).Data;
        for (int r = 0; r < batch.Count; r++)
            for (int t = 0; t < batch[r].Length; t++)
            {
                int s = pad[r] + t;
                var finalB = Row(lb, r, s, seq);
                var finalP = Row(lp, r, s, seq);
                TensorPrimitives.Exp(finalB, _pFinalB);
                TensorPrimitives.Exp(finalP, _pFinalP);
                Divergence.LogSoftmax(Row(postInBase, r, s, seq), _lpP, _pP);
                _pbOwn[l] += Divergence.Kl(_pFinalP, finalP, _lpP, _scratch);
                _pbHead[l] += Divergence.Kl(_pFinalB, finalB, _lpP, _scratch);
                Divergence.LogSoftmax(Row(baseInPost, r, s, seq), _lpB, _pB);
                _bpOwn[l] += Divergence.Kl(_pFinalB, finalB, _lpB, _scratch);
                _bpHead[l] += Divergence.Kl(_pFinalP, finalP, _lpB, _scratch);
            }
    }

    Span<float> Row(float[] data, int row, int position, int seq) => Row(data, row, position, seq, _vocab);

    static Span<float> Row(float[] data, int row, int position, int seq, int width) => data.AsSpan((row * seq + position) * width, width);

    /// <summary>The per-layer statistics over everything added.</summary>
    public IReadOnlyList<LayerDiff> Layers()
    {
        int tokens = _tokens.Count;
        static double? Mean(double sum, int n) => n > 0 ? sum / n : null;
        var layers = new List<LayerDiff>(_layers);
        for (int l = 0; l < _layers; l++)
        {
            int n = Math.Max(1, _count[l]);
            var layer = new LayerDiff(l, _diffNorm[l] / n, _baseNorm[l] / n, _relative[l] / n, Mean(_relTemplate[l], _countTemplate[l]), Mean(_relContent[l], _countContent[l]), _cosine[l] / n);
            if (_o.Lens && _lensTokens > 0)
            {
                int m = _lensTokens;
                layer = layer with
                {
                    BaseLens = new LensLayer(_baseKl[l] / m, Median(_baseRanks[l]), (double)_baseAgree[l] / m),
                    PostLens = new LensLayer(_postKl[l] / m, Median(_postRanks[l]), (double)_postAgree[l] / m),
                    LensKl = _lensKl[l] / m,
                    LensAgreement = (double)_lensAgree[l] / m,
                };
            }
            if (_o.CrossLens && tokens > 0)
                layer = layer with
                {
                    PostThroughBaseHead = new CrossLens(_pbOwn[l] / tokens, _pbHead[l] / tokens),
                    BaseThroughPostHead = new CrossLens(_bpOwn[l] / tokens, _bpHead[l] / tokens),
                };
            layers.Add(layer);
        }
        return layers;
    }

    /// <summary>Mean formation layers and mean split layer (null without the lens).</summary>
    public LensSummary? Summary()
    {
        if (!_o.Lens || _tokens.Count == 0) return null;
        var split = _tokens.Where(t => t.Split >= 0).ToList();
        return new LensSummary(_tokens.Average(t => t.BaseForms), _tokens.Average(t => t.PostForms), split.Count > 0 ? split.Average(t => t.Split) : null, split.Count);
    }

    static double Median(List<int> values)
    {
        if (values.Count == 0) return 0;
        var sorted = values.Order().ToArray();
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2.0;
    }
}
