using OnnxInterp.Checkpoints;
using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Tests.Reference;

/// <summary>
/// <see cref="IHookedModel"/> over the double-precision <see cref="ReferenceTransformer"/>, opened on a Hugging Face
/// checkpoint folder (config.json, safetensors, tokenizer.json): the second implementation of the runtime contract, so
/// that an analysis runs without ONNX Runtime and its results can be checked against an exact model.
/// <list type="bullet">
/// <item>Run translates every <see cref="ForwardRequest"/> feature an analysis uses: mask and positions (defaults as
/// documented there), hook capture by pattern, capture and logit positions, interventions (<see cref="ReferenceEdits"/>),
/// and the KV cache: the reference computes real keys and values, so <see cref="ForwardResult.Present"/> is a real
/// <see cref="KvCache"/> (sliceable with <see cref="KvCache.Take"/>) and a past fed back is attended to as given. The
/// cache is fp32 as ModelSession's, so a past costs the reference ~1e-7 relative against a full recomputation.</item>
/// <item>Generate decodes by one full forward pass per step (no cache), sampling with GenerationLoop's own Pick, and
/// applies interventions to the prompt and to each fed token exactly as GenerationLoop does per step.</item>
/// <item>Layers is null: analyses must work without per-layer graphs.</item>
/// <item>DeviceOutputs and DevicePast are ONNX Runtime memory and throw <see cref="NotSupportedException"/>.</item>
/// </list>
/// Logits and hooks come back as fp32 tensors rounded from double. At left-padding positions (no visible key) the
/// reference's attention output is zero, where ONNX Runtime's is not: such positions mean nothing in either.
/// </summary>
public sealed class ReferenceModel : IHookedModel
{
    readonly ReferenceTransformer _transformer;
    readonly Dictionary<HookName, HookInfo> _hooksByName;

    ReferenceModel(string folder)
    {
        Source = Path.GetFullPath(folder);
        using var ckpt = HfCheckpoint.Open(folder);
        Config = ckpt.Config;
        var weights = ckpt.TensorNames.ToDictionary(n => n, ckpt.ReadFloat32);
        var config = ReferenceConfig.FromHfConfigJson(File.ReadAllText(Path.Combine(folder, HfCheckpoint.ConfigFile)));
        _transformer = new ReferenceTransformer(config, weights);
        var hooks = new List<HookInfo>();
        for (int l = 0; l < Config.NumLayers; l++)
            foreach (var kind in new[] { HookKind.ResidPre, HookKind.ResidMid, HookKind.MlpPost, HookKind.ResidPost })
            {
                var name = new HookName(kind, l);
                hooks.Add(new HookInfo(name, name.IsResidual ? Config.HiddenSize : Config.IntermediateSize, Injectable: true, Projection: name.IsResidual));
            }
        Hooks = hooks;
        _hooksByName = hooks.ToDictionary(h => h.Name);
        Weights = new CheckpointWeights(folder);
    }

    /// <summary>Reads the checkpoint's weights into the reference transformer (the tokenizer and template on first use).</summary>
    public static ReferenceModel Open(string folder) => new(folder);

    public string Source { get; }
    public ModelConfig Config { get; }
    public IReadOnlyList<HookInfo> Hooks { get; }
    public IModelWeights Weights { get; }
    public ILayerRunner? Layers => null;

    public HfTokenizer Tokenizer => _tokenizer ??= HfTokenizer.FromDirectory(Source);
    HfTokenizer? _tokenizer;

    public ChatTemplate ChatTemplate => _chatTemplate ??= ModelChatTemplate.Of(Source);
    ChatTemplate? _chatTemplate;

    public ForwardResult Run(ForwardRequest request, CancellationToken cancellation = default)
    {
        cancellation.ThrowIfCancellationRequested();
        if (request.DeviceOutputs)
            throw new NotSupportedException("ReferenceModel has no device memory: DeviceOutputs is ModelSession's (ONNX Runtime) only; leave it off to get Cache and Present on the host");
        if (request.DevicePast is not null)
            throw new NotSupportedException("ReferenceModel has no device memory: DevicePast is ModelSession's (ONNX Runtime) only; pass the host cache as Past");
        var ids = request.InputIds;
        int batch = ids.Length;
        if (batch == 0) throw new InvalidArgumentException("empty batch", "input_ids", "0");
        int seq = ids[0].Length;
        if (seq == 0) throw new InvalidArgumentException("empty sequence", "input_ids", "0");
        foreach (var row in ids)
        {
            if (row.Length != seq) throw new InvalidArgumentException("all rows must have the same length (pad them)", "input_ids", row.Length.ToString());
            foreach (int t in row)
                if (t < 0 || t >= Config.VocabSize) throw new InvalidArgumentException($"token id outside the vocabulary of {Config.VocabSize}", "input_ids", t.ToString());
        }
        var past = request.Past is { } kv ? ToReference(kv, batch) : null;
        int pastLength = past?.Length ?? 0;
        var mask = request.AttentionMask ?? Enumerable.Range(0, batch).Select(_ => Enumerable.Repeat(1, pastLength + seq).ToArray()).ToArray();
        CheckShape(mask, batch, pastLength + seq, "attention_mask");
        var positions = request.PositionIds ?? DefaultPositions(mask, pastLength);
        CheckShape(positions, batch, seq, "position_ids");
        var capture = Resolve(request.Hooks);
        var edits = ReferenceEdits.Translate(request.Interventions ?? [], _hooksByName, batch, seq);
        var logitRows = Rows(request.LogitPositions, seq, "logit_positions");
        var captureRows = Rows(request.CapturePositions, seq, "capture_positions");

        var output = _transformer.Forward(ids, mask, positions, edits, past);

        var cache = capture.ToDictionary(h => h, h => ToTensor(output.Hooks[h.ToString()], captureRows));
        return new ForwardResult(ToTensor(output.Logits, logitRows), cache)
        {
            Present = request.ReturnPresent ? ToKvCache(output.Present!) : null,
        };
    }

    /// <summary>
    /// GenerationLoop's decoding (left-padded prompts, stop tokens, padding fed to finished rows, the same sampler and
    /// seed) by one full forward pass per step over prompt + tokens fed so far. Interventions: all of them on the prompt
    /// when <see cref="GenerationOptions.InterventionsFromStep"/> is 0 (their positions counted in the padded prompt),
    /// those without positions on the token fed at step k ≥ 1 when k ≥ InterventionsFromStep.
    /// </summary>
    public GenerationResult Generate(IReadOnlyList<int[]> prompts, GenerationOptions? options = null,
        IProgress<GenerationProgress>? progress = null, CancellationToken cancellation = default)
    {
        var o = options ?? new GenerationOptions();
        GenerationLoop.Check(o);
        var stops = new HashSet<int>(o.StopTokens ?? Config.EosTokenIds);
        int pad = o.PadTokenId ?? Config.PadTokenId ?? 0;
        var prompt = ForwardRequest.FromPrompts(prompts, pad);
        int batch = prompts.Count, len = prompt.InputIds[0].Length;
        var rng = new Random(o.Seed);
        var all = o.Interventions ?? [];
        var everywhere = all.Where(i => i.Positions is null).ToList();
        var output = Enumerable.Range(0, batch).Select(_ => new List<int>()).ToArray();
        var stopped = new bool[batch];
        if (o.MaxNewTokens == 0) return new GenerationResult(output.Select(r => r.ToArray()).ToArray(), stopped);

        var ids = prompt.InputIds.Select(r => r.ToList()).ToArray();
        var mask = prompt.AttentionMask!.Select(r => r.ToList()).ToArray();
        var positions = DefaultPositions(prompt.AttentionMask!, 0).Select(r => r.ToList()).ToArray();
        var nextPosition = prompt.AttentionMask!.Select(r => r.Sum()).ToArray();
        var edits = o.InterventionsFromStep == 0 ? ReferenceEdits.Translate(all, _hooksByName, batch, len) : [];
        for (int step = 0; ; step++)
        {
            cancellation.ThrowIfCancellationRequested();
            var logits = _transformer.Forward(ids.Select(r => r.ToArray()).ToArray(), mask.Select(r => r.ToArray()).ToArray(),
                positions.Select(r => r.ToArray()).ToArray(), edits).Logits;
            for (int b = 0; b < batch; b++)
            {
                if (stopped[b]) continue;
                int token = GenerationLoop.Pick(logits[b][^1].Select(x => (float)x).ToArray(), o, rng);
                if (stops.Contains(token)) stopped[b] = true;
                else output[b].Add(token);
            }
            progress?.Report(new GenerationProgress(step + 1, o.MaxNewTokens, stopped.Count(x => x), batch));
            if (step + 1 >= o.MaxNewTokens || stopped.All(x => x)) break;
            for (int b = 0; b < batch; b++)
            {
                ids[b].Add(stopped[b] ? pad : output[b][^1]);
                positions[b].Add(nextPosition[b]++);
                mask[b].Add(1);
            }
            if (step + 1 >= o.InterventionsFromStep) edits.AddRange(ReferenceEdits.Translate(everywhere, _hooksByName, batch, 1, len + step));
        }
        return new GenerationResult(output.Select(r => r.ToArray()).ToArray(), stopped);
    }

    /// <summary>cumsum(mask) − 1 over past + current tokens, padding at 1, the current tokens' part (ForwardRequest's default).</summary>
    static int[][] DefaultPositions(int[][] mask, int past) => mask.Select(row =>
    {
        int seen = 0;
        var all = row.Select(m => { seen += m; return m == 0 ? 1 : seen - 1; }).ToArray();
        return all[past..];
    }).ToArray();

    IReadOnlyList<HookName> Resolve(IReadOnlyList<HookPattern>? patterns)
    {
        if (patterns is not { Count: > 0 }) return [];
        var names = Hooks.Select(h => h.Name).Where(n => patterns.Any(p => p.Matches(n))).ToList();
        if (names.Count == 0) throw new InvalidArgumentException("no hook point matches", "hooks", string.Join(",", patterns));
        return names;
    }

    static int[]? Rows(int[]? positions, int seq, string field) => positions?.Select(p =>
    {
        int q = p < 0 ? seq + p : p;
        return q >= 0 && q < seq ? q : throw new InvalidArgumentException($"position outside the sequence of {seq}", field, p.ToString());
    }).ToArray();

    static void CheckShape(int[][] x, int batch, int length, string field)
    {
        if (x.Length != batch) throw new InvalidArgumentException($"expected {batch} rows", field, x.Length.ToString());
        foreach (var row in x)
            if (row.Length != length) throw new InvalidArgumentException($"expected rows of length {length}", field, row.Length.ToString());
    }

    /// <summary>[B][S][d] in double to a [B, rows, d] fp32 tensor (rows: all when null).</summary>
    static FloatTensor ToTensor(double[][][] x, int[]? rows)
    {
        int batch = x.Length, dim = x[0][0].Length;
        var pick = rows ?? Enumerable.Range(0, x[0].Length).ToArray();
        var t = FloatTensor.Zeros(batch, pick.Length, dim);
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < pick.Length; j++)
            {
                var v = t.Vector(b, j);
                for (int e = 0; e < dim; e++) v[e] = (float)x[b][pick[j]][e];
            }
        return t;
    }

    ReferenceKv ToReference(KvCache kv, int batch)
    {
        var c = Config;
        if (kv.Keys.Count != c.NumLayers || kv.Values.Count != c.NumLayers)
            throw new InvalidArgumentException($"past cache must hold {c.NumLayers} layers", "past", kv.Keys.Count.ToString());
        int length = kv.Length;
        double[][][][] Layer(FloatTensor t, int l)
        {
            var s = t.Shape;
            if (s.Length != 4 || s[0] != batch || s[1] != c.NumKvHeads || s[2] != length || s[3] != c.HeadDim)
                throw new InvalidArgumentException($"past cache of layer {l} must be [{batch},{c.NumKvHeads},{length},{c.HeadDim}]", "past", "[" + string.Join(",", s) + "]");
            return Enumerable.Range(0, batch).Select(b => Enumerable.Range(0, c.NumKvHeads).Select(g => Enumerable.Range(0, length)
                .Select(j => t.Vector(b, g, j).ToArray().Select(x => (double)x).ToArray()).ToArray()).ToArray()).ToArray();
        }
        return new ReferenceKv(kv.Keys.Select(Layer).ToArray(), kv.Values.Select(Layer).ToArray());
    }

    static KvCache ToKvCache(ReferenceKv kv)
    {
        static FloatTensor Layer(double[][][][] x)
        {
            int batch = x.Length, heads = x[0].Length, length = x[0][0].Length, hd = x[0][0][0].Length;
            var t = FloatTensor.Zeros(batch, heads, length, hd);
            for (int b = 0; b < batch; b++)
                for (int g = 0; g < heads; g++)
                    for (int j = 0; j < length; j++)
                    {
                        var v = t.Vector(b, g, j);
                        for (int e = 0; e < hd; e++) v[e] = (float)x[b][g][j][e];
                    }
            return t;
        }
        return new KvCache(kv.Keys.Select(Layer).ToList(), kv.Values.Select(Layer).ToList());
    }
}
