using OnnxInterp.Checkpoints;

namespace OnnxInterp.Trainer;

/// <summary>One parameter tensor: its Hugging Face name, shape ([out, in] for projections) and row-major data.</summary>
public sealed class Parameter(string name, int[] shape)
{
    public string Name { get; } = name;
    public int[] Shape { get; } = shape;
    public float[] Data { get; } = new float[shape.Aggregate(1, (a, b) => a * b)];

    /// <summary>RMSNorm gains (1-D) take no weight decay.</summary>
    public bool IsNorm => Shape.Length == 1;
    public bool IsEmbedding => Name == WeightNames.Embed;
}

/// <summary>The parameters of a Llama decoder with an untied lm_head, one float[] per HF tensor, in checkpoint order.</summary>
public sealed class TinyLlama
{
    public TrainerConfig Config { get; }
    public IReadOnlyList<Parameter> Parameters { get; }
    readonly Dictionary<string, Parameter> _byName;

    internal Parameter Embed { get; }
    internal Parameter FinalNorm { get; }
    internal Parameter LmHead { get; }
    internal LayerParameters[] LayerParams { get; }

    public TinyLlama(TrainerConfig config)
    {
        Config = config.Validate();
        int d = config.Hidden, q = config.QDim, kv = config.KvDim, im = config.Intermediate;
        var list = new List<Parameter>();
        Parameter Add(string name, params int[] shape) { var p = new Parameter(name, shape); list.Add(p); return p; }
        Embed = Add(WeightNames.Embed, config.Vocab, d);
        LayerParams = new LayerParameters[config.Layers];
        for (int l = 0; l < config.Layers; l++)
        {
            LayerParams[l] = new LayerParameters(
                InputNorm: Add(WeightNames.Layer(l, "input_layernorm.weight"), d),
                Q: Add(WeightNames.Layer(l, "self_attn.q_proj.weight"), q, d),
                K: Add(WeightNames.Layer(l, "self_attn.k_proj.weight"), kv, d),
                V: Add(WeightNames.Layer(l, "self_attn.v_proj.weight"), kv, d),
                O: Add(WeightNames.Layer(l, "self_attn.o_proj.weight"), d, q),
                PostNorm: Add(WeightNames.Layer(l, "post_attention_layernorm.weight"), d),
                Gate: Add(WeightNames.Layer(l, "mlp.gate_proj.weight"), im, d),
                Up: Add(WeightNames.Layer(l, "mlp.up_proj.weight"), im, d),
                Down: Add(WeightNames.Layer(l, "mlp.down_proj.weight"), d, im));
        }
        FinalNorm = Add(WeightNames.FinalNorm, d);
        LmHead = Add(WeightNames.LmHead, config.Vocab, d);
        Parameters = list;
        _byName = list.ToDictionary(p => p.Name, StringComparer.Ordinal);
    }

    public Parameter this[string name] => _byName.TryGetValue(name, out var p) ? p : throw new KeyNotFoundException($"no parameter named '{name}'");

    public long ParameterCount => Parameters.Sum(p => (long)p.Data.Length);

    /// <summary>
    /// Seeded init: norms 1; embeddings and projections N(0, std²); the residual-writing projections (o_proj,
    /// down_proj) scaled by 1/sqrt(2·layers) as in GPT-2, so the residual stream's variance does not grow with depth.
    /// </summary>
    public static TinyLlama Create(TrainerConfig config, int seed, double std = 0.02)
    {
        var model = new TinyLlama(config);
        var rng = new Random(seed);
        double residualScale = 1.0 / Math.Sqrt(2.0 * config.Layers);
        foreach (var p in model.Parameters)
        {
            if (p.IsNorm) { Array.Fill(p.Data, 1f); continue; }
            bool residual = p.Name.EndsWith("o_proj.weight", StringComparison.Ordinal) || p.Name.EndsWith("down_proj.weight", StringComparison.Ordinal);
            double s = residual ? std * residualScale : std;
            for (int i = 0; i < p.Data.Length; i++) p.Data[i] = (float)(s * Gaussian(rng));
        }
        return model;
    }

    /// <summary>A deep copy (same config, copied data).</summary>
    public TinyLlama Clone()
    {
        var copy = new TinyLlama(Config);
        for (int i = 0; i < Parameters.Count; i++) Parameters[i].Data.CopyTo(copy.Parameters[i].Data, 0);
        return copy;
    }

    /// <summary>Name → data, the shape the reference forward and the checkpoint writer take.</summary>
    public IReadOnlyDictionary<string, float[]> ToDictionary() => Parameters.ToDictionary(p => p.Name, p => p.Data, StringComparer.Ordinal);

    internal static double Gaussian(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}

internal sealed record LayerParameters(Parameter InputNorm, Parameter Q, Parameter K, Parameter V, Parameter O, Parameter PostNorm,
    Parameter Gate, Parameter Up, Parameter Down);
