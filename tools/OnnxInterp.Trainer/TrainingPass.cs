using System.Numerics.Tensors;
using OnnxInterp.Trainer.Kernels;

namespace OnnxInterp.Trainer;

/// <summary>
/// Forward and backward pass of a <see cref="TinyLlama"/> for one batch shape [B, T], with every workspace
/// allocated once here. Positions are 0..T-1 in each row (right padding or whole sequences; the loss mask drops
/// padded targets). Only what the backward pass reads is kept: per layer the residual input, both normed inputs and
/// their inverse RMS, rotated q/k, v, the attention probabilities and output, the MLP gate/up and product.
/// Not thread-safe: one pass per thread of control.
/// </summary>
public sealed class TrainingPass
{
    readonly TinyLlama _model;
    readonly TrainerConfig _c;
    public int Batch { get; }
    public int SeqLen { get; }
    readonly int _n;

    /// <summary>Gradients, aligned with the model's parameters (same names and shapes).</summary>
    public TinyLlama Gradients { get; }

    readonly float[] _cos, _sin;
    readonly LayerCache[] _layers;
    readonly float[] _xFinal, _rFinal, _xnFinal, _logits, _rowLoss;
    readonly float[] _dx, _dxn, _dh, _dq, _dk, _dv, _datt, _dm, _dg, _du, _scratchRows, _dsScratch;
    readonly int[] _ids, _targets;
    readonly float[] _mask;
    float _maskWeight;
    bool _haveLoss;

    sealed class LayerCache(int n, TrainerConfig c, int b, int t)
    {
        public readonly float[] X = new float[n * c.Hidden], R1 = new float[n], Xn1 = new float[n * c.Hidden];
        public readonly float[] Q = new float[n * c.QDim], K = new float[n * c.KvDim], V = new float[n * c.KvDim];
        public readonly float[] Probs = new float[b * c.Heads * t * t], Att = new float[n * c.QDim];
        public readonly float[] H = new float[n * c.Hidden], R2 = new float[n], Xn2 = new float[n * c.Hidden];
        public readonly float[] G = new float[n * c.Intermediate], U = new float[n * c.Intermediate], M = new float[n * c.Intermediate];
    }

    public TrainingPass(TinyLlama model, int batch, int seqLen)
    {
        if (batch <= 0) throw new ArgumentOutOfRangeException(nameof(batch), batch, "must be positive");
        if (seqLen <= 0 || seqLen > model.Config.MaxSeq) throw new ArgumentOutOfRangeException(nameof(seqLen), seqLen, $"must lie in [1, {model.Config.MaxSeq}]");
        _model = model;
        _c = model.Config;
        Batch = batch;
        SeqLen = seqLen;
        _n = batch * seqLen;
        Gradients = new TinyLlama(_c);
        int half = _c.HeadDim / 2;
        _cos = new float[seqLen * half];
        _sin = new float[seqLen * half];
        for (int t = 0; t < seqLen; t++)
            for (int j = 0; j < half; j++)
            {
                double angle = t / Math.Pow(_c.RopeTheta, 2.0 * j / _c.HeadDim);
                _cos[t * half + j] = (float)Math.Cos(angle);
                _sin[t * half + j] = (float)Math.Sin(angle);
            }
        _layers = new LayerCache[_c.Layers];
        for (int l = 0; l < _c.Layers; l++) _layers[l] = new LayerCache(_n, _c, batch, seqLen);
        int d = _c.Hidden;
        _xFinal = new float[_n * d]; _rFinal = new float[_n]; _xnFinal = new float[_n * d];
        _logits = new float[_n * _c.Vocab]; _rowLoss = new float[_n];
        _dx = new float[_n * d]; _dxn = new float[_n * d]; _dh = new float[_n * d];
        _dq = new float[_n * _c.QDim]; _dk = new float[_n * _c.KvDim]; _dv = new float[_n * _c.KvDim]; _datt = new float[_n * _c.QDim];
        _dm = new float[_n * _c.Intermediate]; _dg = new float[_n * _c.Intermediate]; _du = new float[_n * _c.Intermediate];
        _scratchRows = new float[_n * Math.Max(d, _c.Intermediate)];
        _dsScratch = new float[batch * _c.KvHeads * seqLen * seqLen];
        _ids = new int[_n]; _targets = new int[_n]; _mask = new float[_n];
    }

    /// <summary>Logits [B·T, vocab] of the last <see cref="Forward"/>; overwritten by <see cref="Loss"/>.</summary>
    public ReadOnlySpan<float> Logits => _logits;

    /// <summary>Runs the model on ids [B·T] (row-major [B, T]) and leaves the logits in <see cref="Logits"/>.</summary>
    public void Forward(ReadOnlySpan<int> ids)
    {
        if (ids.Length != _n) throw new ArgumentException($"expected {_n} ids ([{Batch}, {SeqLen}]), got {ids.Length}", nameof(ids));
        int d = _c.Hidden, v = _c.Vocab;
        for (int i = 0; i < _n; i++)
        {
            int id = ids[i];
            if ((uint)id >= (uint)v) throw new ArgumentOutOfRangeException(nameof(ids), id, $"token id must lie in [0, {v})");
            _ids[i] = id;
        }
        var embed = _model.Embed.Data;
        var x0 = _layers.Length > 0 ? _layers[0].X : _xFinal;
        for (int i = 0; i < _n; i++) embed.AsSpan(_ids[i] * d, d).CopyTo(x0.AsSpan(i * d, d));
        for (int l = 0; l < _layers.Length; l++)
            LayerForward(l, l + 1 < _layers.Length ? _layers[l + 1].X : _xFinal);
        NormRows(_xFinal, _model.FinalNorm.Data, _xnFinal, _rFinal);
        Sgemm.NT(_n, v, d, _xnFinal, d, _model.LmHead.Data, d, _logits, v, false);
        _haveLoss = false;
    }

    /// <summary>
    /// Mean cross-entropy over tokens with mask &gt; 0 (each weighted by its mask value); replaces the logits by their
    /// gradient. Call after <see cref="Forward"/>.
    /// </summary>
    public double Loss(ReadOnlySpan<int> targets, ReadOnlySpan<float> mask)
    {
        if (targets.Length != _n || mask.Length != _n) throw new ArgumentException($"targets and mask need {_n} entries");
        double total = 0;
        for (int i = 0; i < _n; i++)
        {
            if (mask[i] < 0 || !float.IsFinite(mask[i])) throw new ArgumentOutOfRangeException(nameof(mask), mask[i], "mask values must be finite and non-negative");
            if (mask[i] > 0 && (uint)targets[i] >= (uint)_c.Vocab) throw new ArgumentOutOfRangeException(nameof(targets), targets[i], $"target must lie in [0, {_c.Vocab})");
            _targets[i] = targets[i];
            _mask[i] = mask[i];
            total += mask[i];
        }
        if (total <= 0) throw new ArgumentException("the mask selects no token", nameof(mask));
        _maskWeight = (float)(1.0 / total);
        int vocab = _c.Vocab;
        Parallel.For(0, _n, i =>
        {
            var row = _logits.AsSpan(i * vocab, vocab);
            if (_mask[i] > 0) _rowLoss[i] = _mask[i] * NnKernels.CrossEntropyInPlace(row, _targets[i], _mask[i] * _maskWeight);
            else { row.Clear(); _rowLoss[i] = 0; }
        });
        double sum = 0;
        for (int i = 0; i < _n; i++) sum += _rowLoss[i];  // fixed order: bit-reproducible
        _haveLoss = true;
        return sum * _maskWeight;
    }

    /// <summary>Forward, loss and backward; the gradients land in <see cref="Gradients"/>.</summary>
    public double ForwardBackward(ReadOnlySpan<int> ids, ReadOnlySpan<int> targets, ReadOnlySpan<float> mask)
    {
        Forward(ids);
        double loss = Loss(targets, mask);
        Backward();
        return loss;
    }

    /// <summary>Gradients of the last <see cref="Loss"/> with respect to every parameter (overwritten, not accumulated).</summary>
    public void Backward()
    {
        if (!_haveLoss) throw new InvalidOperationException("Backward needs Forward and Loss first");
        int d = _c.Hidden, v = _c.Vocab;
        var gr = Gradients;
        // lm_head: dW = dlogitsᵀ·xn, dxn = dlogits·W
        Sgemm.TN(v, d, _n, _logits, v, _xnFinal, d, gr.LmHead.Data, d, false);
        Sgemm.NN(_n, d, v, _logits, v, _model.LmHead.Data, d, _dxn, d, false);
        Array.Clear(_dx);
        NormBackward(_dxn, _xFinal, _rFinal, _model.FinalNorm.Data, gr.FinalNorm.Data, _dx);
        for (int l = _layers.Length - 1; l >= 0; l--) LayerBackward(l);
        var dE = gr.Embed.Data;
        Array.Clear(dE);
        for (int i = 0; i < _n; i++)
        {
            var row = dE.AsSpan(_ids[i] * d, d);
            TensorPrimitives.Add(row, _dx.AsSpan(i * d, d), row);
        }
    }

    void LayerForward(int l, float[] xOut)
    {
        var p = _model.LayerParams[l];
        var c = _layers[l];
        int d = _c.Hidden, qd = _c.QDim, kvd = _c.KvDim, im = _c.Intermediate;
        NormRows(c.X, p.InputNorm.Data, c.Xn1, c.R1);
        Sgemm.NT(_n, qd, d, c.Xn1, d, p.Q.Data, d, c.Q, qd, false);
        Sgemm.NT(_n, kvd, d, c.Xn1, d, p.K.Data, d, c.K, kvd, false);
        Sgemm.NT(_n, kvd, d, c.Xn1, d, p.V.Data, d, c.V, kvd, false);
        RopeRows(c.Q, _c.Heads, inverse: false);
        RopeRows(c.K, _c.KvHeads, inverse: false);
        int t = SeqLen, hd = _c.HeadDim, group = _c.Heads / _c.KvHeads;
        Parallel.For(0, Batch * _c.KvHeads, pair =>
        {
            int b = pair / _c.KvHeads, g = pair % _c.KvHeads;
            CausalAttention.Forward(c.Q.AsSpan(b * t * qd, t * qd), c.K.AsSpan(b * t * kvd, t * kvd), c.V.AsSpan(b * t * kvd, t * kvd),
                c.Att.AsSpan(b * t * qd, t * qd), c.Probs.AsSpan((b * _c.Heads + g * group) * t * t, group * t * t), t, hd, qd, kvd, g, group);
        });
        // h = x + att·Woᵀ
        c.X.AsSpan().CopyTo(c.H);
        Sgemm.NT(_n, d, qd, c.Att, qd, p.O.Data, qd, c.H, d, true);
        NormRows(c.H, p.PostNorm.Data, c.Xn2, c.R2);
        Sgemm.NT(_n, im, d, c.Xn2, d, p.Gate.Data, d, c.G, im, false);
        Sgemm.NT(_n, im, d, c.Xn2, d, p.Up.Data, d, c.U, im, false);
        ForRows(_n, (r0, r1) => NnKernels.SwiGlu(c.G.AsSpan(r0 * im, (r1 - r0) * im), c.U.AsSpan(r0 * im, (r1 - r0) * im), c.M.AsSpan(r0 * im, (r1 - r0) * im)));
        c.H.AsSpan().CopyTo(xOut);
        Sgemm.NT(_n, d, im, c.M, im, p.Down.Data, im, xOut, d, true);
    }

    /// <summary>On entry _dx holds d(loss)/d(layer output); on exit d(loss)/d(layer input).</summary>
    void LayerBackward(int l)
    {
        var p = _model.LayerParams[l];
        var gp = Gradients.LayerParams[l];
        var c = _layers[l];
        int d = _c.Hidden, qd = _c.QDim, kvd = _c.KvDim, im = _c.Intermediate;
        // MLP: out = h + m·Wdᵀ
        Sgemm.TN(d, im, _n, _dx, d, c.M, im, gp.Down.Data, im, false);
        Sgemm.NN(_n, im, d, _dx, d, p.Down.Data, im, _dm, im, false);
        ForRows(_n, (r0, r1) => NnKernels.SwiGluBackward(_dm.AsSpan(r0 * im, (r1 - r0) * im), c.G.AsSpan(r0 * im, (r1 - r0) * im),
            c.U.AsSpan(r0 * im, (r1 - r0) * im), _dg.AsSpan(r0 * im, (r1 - r0) * im), _du.AsSpan(r0 * im, (r1 - r0) * im)));
        Sgemm.TN(im, d, _n, _dg, im, c.Xn2, d, gp.Gate.Data, d, false);
        Sgemm.TN(im, d, _n, _du, im, c.Xn2, d, gp.Up.Data, d, false);
        Sgemm.NN(_n, d, im, _dg, im, p.Gate.Data, d, _dxn, d, false);
        Sgemm.NN(_n, d, im, _du, im, p.Up.Data, d, _dxn, d, true);
        // dh = dout + normᵀ(dxn)
        _dx.AsSpan().CopyTo(_dh);
        NormBackward(_dxn, c.H, c.R2, p.PostNorm.Data, gp.PostNorm.Data, _dh);
        // attention: h = x + att·Woᵀ
        Sgemm.TN(d, qd, _n, _dh, d, c.Att, qd, gp.O.Data, qd, false);
        Sgemm.NN(_n, qd, d, _dh, d, p.O.Data, qd, _datt, qd, false);
        int t = SeqLen, hd = _c.HeadDim, group = _c.Heads / _c.KvHeads;
        Parallel.For(0, Batch * _c.KvHeads, pair =>
        {
            int b = pair / _c.KvHeads, g = pair % _c.KvHeads;
            CausalAttention.Backward(c.Q.AsSpan(b * t * qd, t * qd), c.K.AsSpan(b * t * kvd, t * kvd), c.V.AsSpan(b * t * kvd, t * kvd),
                c.Probs.AsSpan((b * _c.Heads + g * group) * t * t, group * t * t), _datt.AsSpan(b * t * qd, t * qd),
                _dq.AsSpan(b * t * qd, t * qd), _dk.AsSpan(b * t * kvd, t * kvd), _dv.AsSpan(b * t * kvd, t * kvd), _dsScratch.AsSpan(pair * t * t, t * t),
                t, hd, qd, kvd, g, group);
        });
        RopeRows(_dq, _c.Heads, inverse: true);
        RopeRows(_dk, _c.KvHeads, inverse: true);
        Sgemm.TN(qd, d, _n, _dq, qd, c.Xn1, d, gp.Q.Data, d, false);
        Sgemm.TN(kvd, d, _n, _dk, kvd, c.Xn1, d, gp.K.Data, d, false);
        Sgemm.TN(kvd, d, _n, _dv, kvd, c.Xn1, d, gp.V.Data, d, false);
        Sgemm.NN(_n, d, qd, _dq, qd, p.Q.Data, d, _dxn, d, false);
        Sgemm.NN(_n, d, kvd, _dk, kvd, p.K.Data, d, _dxn, d, true);
        Sgemm.NN(_n, d, kvd, _dv, kvd, p.V.Data, d, _dxn, d, true);
        _dh.AsSpan().CopyTo(_dx);
        NormBackward(_dxn, c.X, c.R1, p.InputNorm.Data, gp.InputNorm.Data, _dx);
    }

    void NormRows(float[] x, float[] w, float[] y, float[] r)
    {
        int d = _c.Hidden;
        float eps = (float)_c.RmsNormEps;
        ForRows(_n, (r0, r1) =>
        {
            for (int i = r0; i < r1; i++) r[i] = NnKernels.RmsNorm(x.AsSpan(i * d, d), w, y.AsSpan(i * d, d), eps);
        });
    }

    /// <summary>dx += normᵀ(dy) per row (parallel); dw = Σ_rows dy⊙x·r in row order (single thread, reproducible).</summary>
    void NormBackward(float[] dy, float[] x, float[] r, float[] w, float[] dw, float[] dx)
    {
        int d = _c.Hidden;
        var scratch = _scratchRows;
        ForRows(_n, (r0, r1) =>
        {
            for (int i = r0; i < r1; i++)
                NnKernels.RmsNormBackward(dy.AsSpan(i * d, d), x.AsSpan(i * d, d), w, r[i], dx.AsSpan(i * d, d), scratch.AsSpan(i * d, d));
        });
        Array.Clear(dw);
        var tmp = scratch.AsSpan(0, d);
        for (int i = 0; i < _n; i++)
        {
            TensorPrimitives.Multiply(dy.AsSpan(i * d, d), x.AsSpan(i * d, d), tmp);
            TensorPrimitives.MultiplyAdd(tmp, r[i], dw, dw);
        }
    }

    void RopeRows(float[] data, int heads, bool inverse)
    {
        int hd = _c.HeadDim, half = hd / 2, stride = heads * hd, t = SeqLen;
        ForRows(_n, (r0, r1) =>
        {
            for (int i = r0; i < r1; i++)
            {
                int pos = i % t;
                var cos = _cos.AsSpan(pos * half, half);
                var sin = _sin.AsSpan(pos * half, half);
                for (int h = 0; h < heads; h++) NnKernels.Rope(data.AsSpan(i * stride + h * hd, hd), cos, sin, inverse);
            }
        });
    }

    /// <summary>Fixed partition of rows into chunks, run in parallel. Row-independent work only.</summary>
    static void ForRows(int rows, Action<int, int> body)
    {
        int chunks = Math.Min(rows, Environment.ProcessorCount * 4);
        if (chunks <= 1) { body(0, rows); return; }
        Parallel.For(0, chunks, ch => body((int)((long)rows * ch / chunks), (int)((long)rows * (ch + 1) / chunks)));
    }
}
