using System.Numerics.Tensors;

namespace OnnxInterp.Tests.Reference;

/// <summary>
/// A deliberately plain, double-precision forward pass of a Llama / Mistral / Qwen2 decoder, following
/// transformers' modeling_llama.py / modeling_mistral.py / modeling_qwen2.py with eager attention.
/// Hooks per layer l, in order: blocks.{l}.hook_resid_pre, blocks.{l}.hook_resid_mid, blocks.{l}.mlp.hook_post,
/// blocks.{l}.hook_resid_post.
/// Deviation from HF: a query with no visible key (a left-padding position) gets a zero attention output;
/// HF's eager path yields a uniform average there. Such positions are never meaningful.
/// With a past (the keys and values of earlier tokens, as a previous call's <see cref="ReferenceOutput.Present"/>),
/// the attention mask covers past + current tokens and the sliding window counts cache indices, as HF's cache does.
/// </summary>
public sealed class ReferenceTransformer
{
    private readonly ReferenceConfig _config;
    private readonly Dictionary<string, double[]> _w = new();
    private readonly double[] _invFreq;

    public ReferenceTransformer(ReferenceConfig config, IReadOnlyDictionary<string, float[]> weights)
    {
        _config = config;
        int d = config.HiddenSize, im = config.IntermediateSize, v = config.VocabSize;
        int qDim = config.NumHeads * config.HeadDim, kvDim = config.NumKvHeads * config.HeadDim;
        if (config.NumHeads % config.NumKvHeads != 0)
            throw new ArgumentException("NumHeads must be a multiple of NumKvHeads");
        if (config.HeadDim % 2 != 0)
            throw new ArgumentException("HeadDim must be even");

        Take(weights, "model.embed_tokens.weight", v * d);
        for (int l = 0; l < config.NumLayers; l++)
        {
            string p = $"model.layers.{l}.";
            Take(weights, p + "input_layernorm.weight", d);
            Take(weights, p + "self_attn.q_proj.weight", qDim * d);
            Take(weights, p + "self_attn.k_proj.weight", kvDim * d);
            Take(weights, p + "self_attn.v_proj.weight", kvDim * d);
            Take(weights, p + "self_attn.o_proj.weight", d * qDim);
            if (config.QkvBias)
            {
                Take(weights, p + "self_attn.q_proj.bias", qDim);
                Take(weights, p + "self_attn.k_proj.bias", kvDim);
                Take(weights, p + "self_attn.v_proj.bias", kvDim);
            }
            if (config.OProjBias) Take(weights, p + "self_attn.o_proj.bias", d);
            Take(weights, p + "post_attention_layernorm.weight", d);
            Take(weights, p + "mlp.gate_proj.weight", im * d);
            Take(weights, p + "mlp.up_proj.weight", im * d);
            Take(weights, p + "mlp.down_proj.weight", d * im);
            if (config.MlpBias)
            {
                Take(weights, p + "mlp.gate_proj.bias", im);
                Take(weights, p + "mlp.up_proj.bias", im);
                Take(weights, p + "mlp.down_proj.bias", d);
            }
        }
        Take(weights, "model.norm.weight", d);
        if (config.TieWordEmbeddings)
            _w["lm_head.weight"] = _w["model.embed_tokens.weight"];
        else
            Take(weights, "lm_head.weight", v * d);

        _invFreq = ReferenceRope.InverseFrequencies(config);
    }

    public ReferenceConfig Config => _config;

    /// <summary>All hook names in the order they are reached.</summary>
    public IReadOnlyList<string> HookNames
    {
        get
        {
            var names = new List<string>();
            for (int l = 0; l < _config.NumLayers; l++)
            {
                names.Add($"blocks.{l}.hook_resid_pre");
                names.Add($"blocks.{l}.hook_resid_mid");
                names.Add($"blocks.{l}.mlp.hook_post");
                names.Add($"blocks.{l}.hook_resid_post");
            }
            return names;
        }
    }

    private void Take(IReadOnlyDictionary<string, float[]> weights, string name, int expectedLength)
    {
        if (!weights.TryGetValue(name, out float[]? w))
            throw new KeyNotFoundException($"Missing weight '{name}'");
        if (w.Length != expectedLength)
            throw new ArgumentException($"Weight '{name}' has {w.Length} elements, expected {expectedLength}");
        var copy = new double[w.Length];
        for (int i = 0; i < w.Length; i++) copy[i] = w[i];
        _w[name] = copy;
    }

    /// <summary>x / sqrt(mean(x^2) + eps) * weight.</summary>
    public static double[] RmsNorm(double[] x, double[] weight, double eps)
    {
        double sumSq = 0;
        for (int i = 0; i < x.Length; i++) sumSq += x[i] * x[i];
        double inv = 1.0 / Math.Sqrt(sumSq / x.Length + eps);
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++) y[i] = x[i] * inv * weight[i];
        return y;
    }

    /// <summary>y = W x + b with W row-major [outDim, inDim].</summary>
    private static double[] Linear(double[] w, double[]? b, double[] x, int outDim)
    {
        int inDim = x.Length;
        var y = new double[outDim];
        for (int o = 0; o < outDim; o++)
        {
            double acc = TensorPrimitives.Dot<double>(w.AsSpan(o * inDim, inDim), x);
            y[o] = b is null ? acc : acc + b[o];
        }
        return y;
    }

    private double[]? Bias(string name) => _w.TryGetValue(name, out double[]? b) ? b : null;

    private static double Silu(double x) => x / (1.0 + Math.Exp(-x));

    public ReferenceOutput Forward(
        int[][] inputIds,
        int[][] attentionMask,
        int[][] positionIds,
        IReadOnlyList<ReferenceIntervention>? interventions = null,
        ReferenceKv? past = null)
    {
        var c = _config;
        int batch = inputIds.Length;
        if (batch == 0) throw new ArgumentException("empty batch");
        int seq = inputIds[0].Length;
        int pastLen = past?.Length ?? 0;
        if (attentionMask.Length != batch || positionIds.Length != batch)
            throw new ArgumentException("inputIds, attentionMask and positionIds differ in batch size");
        if (past is not null && !past.Fits(c.NumLayers, batch, c.NumKvHeads, c.HeadDim))
            throw new ArgumentException($"past must hold {c.NumLayers} layers of [{batch}][{c.NumKvHeads}][T][{c.HeadDim}] keys and values");
        for (int b = 0; b < batch; b++)
        {
            if (inputIds[b].Length != seq || attentionMask[b].Length != pastLen + seq || positionIds[b].Length != seq)
                throw new ArgumentException($"row {b} has a different length");
            foreach (int id in inputIds[b])
                if (id < 0 || id >= c.VocabSize) throw new ArgumentOutOfRangeException(nameof(inputIds), $"token id {id}");
        }
        interventions ??= [];
        var known = new HashSet<string>(HookNames);
        foreach (var iv in interventions)
        {
            if (!known.Contains(iv.Hook)) throw new ArgumentException($"Unknown hook '{iv.Hook}'");
            if (iv.Row < 0 || iv.Row >= batch || iv.Position < 0 || iv.Position >= seq)
                throw new ArgumentOutOfRangeException(nameof(interventions), $"({iv.Row}, {iv.Position}) out of range");
        }

        int d = c.HiddenSize, hd = c.HeadDim, nH = c.NumHeads, nKv = c.NumKvHeads, im = c.IntermediateSize;
        int groups = nH / nKv;
        var hooks = new Dictionary<string, double[][][]>();
        var rotations = positionIds.SelectMany(r => r).Distinct().ToDictionary(t => t, t => ReferenceRope.Rotation(_invFreq, t));
        var presentKeys = new double[c.NumLayers][][][][];
        var presentValues = new double[c.NumLayers][][][][];

        // Embedding lookup.
        double[] embed = _w["model.embed_tokens.weight"];
        var resid = new double[batch][][];
        for (int b = 0; b < batch; b++)
        {
            resid[b] = new double[seq][];
            for (int t = 0; t < seq; t++)
            {
                resid[b][t] = new double[d];
                Array.Copy(embed, inputIds[b][t] * d, resid[b][t], 0, d);
            }
        }

        for (int l = 0; l < c.NumLayers; l++)
        {
            string p = $"model.layers.{l}.";
            Hook($"blocks.{l}.hook_resid_pre", resid, interventions, hooks);
            double[] inputNorm = _w[p + "input_layernorm.weight"], postNorm = _w[p + "post_attention_layernorm.weight"];
            double[] qW = _w[p + "self_attn.q_proj.weight"], kW = _w[p + "self_attn.k_proj.weight"], vW = _w[p + "self_attn.v_proj.weight"], oW = _w[p + "self_attn.o_proj.weight"];
            double[]? qB = Bias(p + "self_attn.q_proj.bias"), kB = Bias(p + "self_attn.k_proj.bias"), vB = Bias(p + "self_attn.v_proj.bias"), oB = Bias(p + "self_attn.o_proj.bias");
            double[] gateW = _w[p + "mlp.gate_proj.weight"], upW = _w[p + "mlp.up_proj.weight"], downW = _w[p + "mlp.down_proj.weight"];
            double[]? gateB = Bias(p + "mlp.gate_proj.bias"), upB = Bias(p + "mlp.up_proj.bias"), downB = Bias(p + "mlp.down_proj.bias");

            // ---- self attention ----
            var q = new double[batch][][][]; // [b][t][head][hd], after RoPE
            var k = new double[batch][][][];
            var v = new double[batch][][][];
            for (int b = 0; b < batch; b++)
            {
                q[b] = new double[seq][][];
                k[b] = new double[seq][][];
                v[b] = new double[seq][][];
                for (int t = 0; t < seq; t++)
                {
                    double[] x = RmsNorm(resid[b][t], inputNorm, c.RmsNormEps);
                    double[] qAll = Linear(qW, qB, x, nH * hd);
                    double[] kAll = Linear(kW, kB, x, nKv * hd);
                    double[] vAll = Linear(vW, vB, x, nKv * hd);
                    var rotation = rotations[positionIds[b][t]];
                    q[b][t] = new double[nH][];
                    for (int h = 0; h < nH; h++)
                        q[b][t][h] = ReferenceRope.Apply(qAll[(h * hd)..((h + 1) * hd)], rotation);
                    k[b][t] = new double[nKv][];
                    v[b][t] = new double[nKv][];
                    for (int g = 0; g < nKv; g++)
                    {
                        k[b][t][g] = ReferenceRope.Apply(kAll[(g * hd)..((g + 1) * hd)], rotation);
                        v[b][t][g] = vAll[(g * hd)..((g + 1) * hd)];
                    }
                }
            }

            // The cache: past keys/values [b][g][j][hd] for j < pastLen, this call's tokens after them.
            var keys = new double[batch][][][];
            var values = new double[batch][][][];
            for (int b = 0; b < batch; b++)
            {
                keys[b] = new double[nKv][][];
                values[b] = new double[nKv][][];
                for (int g = 0; g < nKv; g++)
                {
                    keys[b][g] = new double[pastLen + seq][];
                    values[b][g] = new double[pastLen + seq][];
                    for (int j = 0; j < pastLen; j++)
                    {
                        keys[b][g][j] = past!.Keys[l][b][g][j];
                        values[b][g][j] = past.Values[l][b][g][j];
                    }
                    for (int t = 0; t < seq; t++)
                    {
                        keys[b][g][pastLen + t] = k[b][t][g];
                        values[b][g][pastLen + t] = v[b][t][g];
                    }
                }
            }
            presentKeys[l] = keys;
            presentValues[l] = values;

            bool sliding = c.IsSlidingLayer(l);
            double scaling = 1.0 / Math.Sqrt(hd);
            for (int b = 0; b < batch; b++)
            {
                for (int i = 0; i < seq; i++)
                {
                    var concat = new double[nH * hd];
                    for (int h = 0; h < nH; h++)
                    {
                        int g = h / groups; // repeat_kv: query head h reads kv head h / n_rep
                        var visible = new List<int>();
                        int qi = pastLen + i; // the query's cache index
                        for (int j = 0; j <= qi; j++)
                        {
                            if (attentionMask[b][j] == 0) continue;
                            // masking_utils.sliding_window_overlay: kv_idx > q_idx - sliding_window
                            if (sliding && !(j > qi - c.SlidingWindow!.Value)) continue;
                            visible.Add(j);
                        }
                        if (visible.Count == 0) continue; // documented: zero output
                        var scores = new double[visible.Count];
                        double max = double.NegativeInfinity;
                        double[] query = q[b][i][h];
                        for (int n = 0; n < visible.Count; n++)
                        {
                            double[] key = keys[b][g][visible[n]];
                            double dot = 0;
                            for (int e = 0; e < hd; e++) dot += query[e] * key[e];
                            scores[n] = dot * scaling;
                            max = Math.Max(max, scores[n]);
                        }
                        double sum = 0;
                        for (int n = 0; n < scores.Length; n++)
                        {
                            scores[n] = Math.Exp(scores[n] - max);
                            sum += scores[n];
                        }
                        for (int n = 0; n < scores.Length; n++)
                        {
                            double prob = scores[n] / sum;
                            double[] value = values[b][g][visible[n]];
                            for (int e = 0; e < hd; e++) concat[h * hd + e] += prob * value[e];
                        }
                    }
                    double[] attnOut = Linear(oW, oB, concat, d);
                    var mid = new double[d];
                    for (int e = 0; e < d; e++) mid[e] = resid[b][i][e] + attnOut[e];
                    resid[b][i] = mid;
                }
            }
            Hook($"blocks.{l}.hook_resid_mid", resid, interventions, hooks);

            // ---- MLP ----
            var act = new double[batch][][];
            for (int b = 0; b < batch; b++)
            {
                act[b] = new double[seq][];
                for (int t = 0; t < seq; t++)
                {
                    double[] x = RmsNorm(resid[b][t], postNorm, c.RmsNormEps);
                    double[] gate = Linear(gateW, gateB, x, im);
                    double[] up = Linear(upW, upB, x, im);
                    act[b][t] = new double[im];
                    for (int e = 0; e < im; e++) act[b][t][e] = Silu(gate[e]) * up[e];
                }
            }
            Hook($"blocks.{l}.mlp.hook_post", act, interventions, hooks);
            for (int b = 0; b < batch; b++)
            {
                for (int t = 0; t < seq; t++)
                {
                    double[] down = Linear(downW, downB, act[b][t], d);
                    var post = new double[d];
                    for (int e = 0; e < d; e++) post[e] = resid[b][t][e] + down[e];
                    resid[b][t] = post;
                }
            }
            Hook($"blocks.{l}.hook_resid_post", resid, interventions, hooks);
        }

        // ---- final norm and lm_head ----
        var logits = new double[batch][][];
        for (int b = 0; b < batch; b++)
        {
            logits[b] = new double[seq][];
            for (int t = 0; t < seq; t++)
            {
                double[] x = RmsNorm(resid[b][t], _w["model.norm.weight"], c.RmsNormEps);
                logits[b][t] = Linear(_w["lm_head.weight"], null, x, c.VocabSize);
            }
        }
        return new ReferenceOutput(logits, hooks) { Present = new ReferenceKv(presentKeys, presentValues) };
    }

    /// <summary>Applies the interventions aimed at <paramref name="name"/> in list order (in place), then records a copy.</summary>
    private static void Hook(
        string name,
        double[][][] values,
        IReadOnlyList<ReferenceIntervention> interventions,
        Dictionary<string, double[][][]> hooks)
    {
        foreach (var iv in interventions)
        {
            if (iv.Hook != name) continue;
            double[] h = (double[])values[iv.Row][iv.Position].Clone();
            int n = h.Length;
            if (iv.ProjectOut is not null)
            {
                foreach (double[] u in iv.ProjectOut)
                {
                    CheckLength(u, n, name);
                    double dot = 0;
                    for (int e = 0; e < n; e++) dot += h[e] * u[e];
                    for (int e = 0; e < n; e++) h[e] -= dot * u[e];
                }
            }
            if (iv.Scale is not null)
            {
                CheckLength(iv.Scale, n, name);
                for (int e = 0; e < n; e++) h[e] *= iv.Scale[e];
            }
            if (iv.Replace is not null)
            {
                CheckLength(iv.Replace, n, name);
                h = (double[])iv.Replace.Clone();
            }
            if (iv.Add is not null)
            {
                CheckLength(iv.Add, n, name);
                for (int e = 0; e < n; e++) h[e] += iv.Add[e];
            }
            values[iv.Row][iv.Position] = h;
        }

        var record = new double[values.Length][][];
        for (int b = 0; b < values.Length; b++)
        {
            record[b] = new double[values[b].Length][];
            for (int t = 0; t < values[b].Length; t++) record[b][t] = (double[])values[b][t].Clone();
        }
        hooks[name] = record;
    }

    private static void CheckLength(double[] vector, int expected, string hook)
    {
        if (vector.Length != expected)
            throw new ArgumentException($"Intervention vector for '{hook}' has length {vector.Length}, expected {expected}");
    }
}
