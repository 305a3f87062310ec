using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxInterp.Export;
using OnnxInterp.Checkpoints;
using OnnxInterp.Internals;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Runtime;

/// <summary>
/// An exported model folder loaded into ONNX Runtime. Runs forward passes that capture the requested hooks and
/// apply interventions through the graph's injection inputs. Owns its InferenceSession (and those of decode.onnx and
/// the per-layer graphs, opened on first use over one shared copy of the weights); dispose it to free native memory.
/// Thread-safe for concurrent <see cref="Run(ForwardRequest, CancellationToken)"/> calls (ORT sessions are).
/// </summary>
public sealed class ModelSession : IHookedModel, ILayerRunner, IDisposable
{
    readonly InferenceSession _session;
    readonly SessionConfig _config;
    readonly InferenceSession?[] _parts;
    readonly object _partsLock = new();
    readonly Dictionary<HookName, (int Dim, bool Projection)> _hookDims;
    readonly bool _fp16;
    readonly bool _cuda;
    readonly bool _logitsToKeep;
    readonly OrtMemoryInfo _deviceMemory;
    readonly Dictionary<int, OrtValue> _emptyPast = [];
    readonly MappedWeights? _weights;
    InferenceSession? _decode;

    ModelSession(string directory, ModelManifest manifest, InferenceSession session, SessionConfig config, bool cuda, MappedWeights? weights)
    {
        _weights = weights;
        Directory = directory;
        Manifest = manifest;
        _session = session;
        _config = config;
        _cuda = cuda;
        _parts = new InferenceSession?[manifest.Config.NumLayers + 1];
        _fp16 = manifest.DType == ExportDType.Fp16;
        _hookDims = manifest.Hooks.ToDictionary(h => h.Name, h => (h.Dim, h.Injection?.Proj is not null));
        // Exports before logits_to_keep compute every position's logits; the result is then sliced on the host.
        // An input with a default is an overridable initializer, which ORT lists apart from the required inputs.
        _logitsToKeep = config.LogitsInGraph && (session.OverridableInitializerMetadata.ContainsKey(DecoderGraph.LogitsToKeep)
            || session.InputMetadata.ContainsKey(DecoderGraph.LogitsToKeep));
        _deviceMemory = cuda
            ? new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA, OrtAllocatorType.DeviceAllocator, config.CudaDeviceId, OrtMemType.Default)
            : OrtMemoryInfo.DefaultInstance;
    }

    /// <summary>
    /// True when runs asking for some positions' logits compute the head on the kept positions only (the export has the
    /// logits_to_keep input and <see cref="SessionConfig.LogitsInGraph"/> is on); otherwise every position's logits are
    /// computed and sliced on the host.
    /// </summary>
    public bool HeadOnKeptPositions => _logitsToKeep;

    /// <summary>How the session was opened.</summary>
    public SessionConfig SessionConfig => _config;

    /// <summary>True when the session runs on the CUDA provider (device outputs then live in GPU memory).</summary>
    public bool OnCuda => _cuda;

    public string Directory { get; }
    public ModelManifest Manifest { get; }

    /// <summary>The exported folder.</summary>
    public string Source => Directory;

    public ModelConfig Config => Manifest.Config;

    public IReadOnlyList<HookInfo> Hooks => _hooks ??= Manifest.Hooks
        .Select(h => new HookInfo(h.Name, h.Dim, Manifest.InjectionInputs && h.Injection is not null, Manifest.InjectionInputs && h.Injection?.Proj is not null))
        .ToList();

    IReadOnlyList<HookInfo>? _hooks;

    /// <summary>The tokenizer of the folder's tokenizer.json (read on first use, then shared).</summary>
    public HfTokenizer Tokenizer => _tokenizer ??= HfTokenizer.FromDirectory(Directory);

    HfTokenizer? _tokenizer;

    /// <summary>The folder's own chat template (<see cref="ModelChatTemplate.Of"/>; read on first use).</summary>
    public ChatTemplate ChatTemplate => _chatTemplate ??= ModelChatTemplate.Of(Directory);

    ChatTemplate? _chatTemplate;

    /// <summary>The export's weights, read from its initializers on request.</summary>
    public IModelWeights Weights => _modelWeights ??= new ExportWeights(Directory);

    IModelWeights? _modelWeights;

    /// <summary>This session's per-layer and head graphs, when the export has them (<see cref="HasLayerGraphs"/>).</summary>
    public ILayerRunner? Layers => HasLayerGraphs ? this : null;

    static SessionOptions CreateOptions(SessionConfig cfg, Action<string>? warn, out bool cuda)
    {
        // Overridable initializers (our injection defaults) draw an ORT warning per input: keep the log to errors.
        var options = new SessionOptions { GraphOptimizationLevel = cfg.Optimization, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        if (cfg.Threads > 0) options.IntraOpNumThreads = cfg.Threads;
        // Idle spinning pools steal cores from the other model of a pair (ORT-NOTES: +23..88%): spin during a run at most.
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", cfg.SpinWhileRunning ? "1" : "0");
        if (cfg.SpinWhileRunning) options.AddSessionConfigEntry("session.force_spinning_stop", "1");
        cuda = ExecutionProviders.Append(options, cfg, warn);
        return options;
    }

    public static ModelSession Open(string directory, SessionConfig? config = null, Action<string>? warn = null)
    {
        var manifest = ModelManifest.Read(directory);
        var cfg = config ?? new SessionConfig();
        var modelPath = Path.Combine(directory, manifest.ModelFile);
        if (!File.Exists(modelPath)) Throw.InvalidFile("model file named by the manifest is missing", modelPath);
        var weights = cfg.ShareWeights ? MappedWeights.Open(Path.Combine(directory, manifest.DataFile)) : null;
        InferenceSession? session = null;
        try
        {
            (session, bool cuda) = Load(modelPath, cfg, warn, weights);
            ManifestCheck.AgainstGraph(manifest, session, Path.Combine(directory, ModelManifest.FileName));
            return new ModelSession(directory, manifest, session, cfg, cuda, weights);
        }
        catch
        {
            session?.Dispose();
            weights?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Checks the graph's external-data references (they must stay inside the model folder) and opens it; every ORT load
    /// failure becomes an <see cref="InvalidFileException"/> naming the file. With <paramref name="weights"/>, the
    /// graph's weights come from that one mapping and its packed copies are shared with the model's other sessions.
    /// </summary>
    static (InferenceSession Session, bool Cuda) Load(string path, SessionConfig cfg, Action<string>? warn, MappedWeights? weights)
    {
        OnnxFileCheck.Validate(path);
        using var options = CreateOptions(cfg, warn, out bool cuda);
        weights?.AddTo(options, path);
        try
        {
            if (weights is null) return (new InferenceSession(path, options), cuda);
            // Packing reads every weight of the mapping once; dropping the pages read so far while it goes keeps the
            // mapping from standing resident beside the packed copy (which would double the peak for a moment).
            using (weights.ReleaseWhile())
                return (new InferenceSession(path, options, weights.Container), cuda);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidFileException($"ONNX Runtime could not load the graph: {e.Message}", path, inner: e);
        }
    }

    /// <summary>Hook names matching the patterns, in graph order.</summary>
    public IReadOnlyList<HookName> ResolveHooks(IEnumerable<HookPattern>? patterns)
    {
        if (patterns is null) return [];
        var list = patterns.ToList();
        if (list.Count == 0) return [];
        var names = Manifest.Hooks.Where(h => list.Any(p => p.Matches(h.Name))).Select(h => h.Name).ToList();
        if (names.Count == 0) Throw.Argument("no hook point matches", "hooks", string.Join(",", list));
        if (!Manifest.HookOutputs) Throw.Argument("this export has no hook outputs", "hooks", string.Join(",", list));
        return names;
    }

    /// <summary>
    /// One forward pass. Cancelling <paramref name="cancellation"/> stops ONNX Runtime mid-run (RunOptions.Terminate)
    /// and throws <see cref="OperationCanceledException"/>. Outputs are bound before the run (OrtIoBinding): logits,
    /// hooks and present keys/values are written by ONNX Runtime straight into the arrays the result hands out, or, with
    /// <see cref="ForwardRequest.DeviceOutputs"/>, left in ONNX Runtime's memory on the session's device. With
    /// <see cref="ForwardRequest.LogitPositions"/>, the graph's head runs on the last positions from the first one asked
    /// for (its logits_to_keep input), not on every position.
    /// </summary>
    public ForwardResult Run(ForwardRequest request, CancellationToken cancellation = default) =>
        // A run that captures nothing and changes nothing runs decode.onnx: the injection sub-graphs would compute nothing asked for.
        Run(request, cancellation, null, plain: HasDecodeGraph && _config.PlainWhenUnhooked
            && (request.Hooks is null || request.Hooks.Count == 0) && (request.Interventions is null || request.Interventions.Count == 0));

    /// <summary>
    /// As <see cref="Run(ForwardRequest, CancellationToken)"/>, ORT writing the logits into <paramref name="logitsBuffer"/>
    /// when it has their size; with <paramref name="plain"/>, on decode.onnx (no hooks, no interventions).
    /// </summary>
    internal ForwardResult Run(ForwardRequest request, CancellationToken cancellation, float[]? logitsBuffer, bool plain)
    {
        cancellation.ThrowIfCancellationRequested();
        if (Manifest.Fused && RowByRow.Needed(request))
        {
            if (request.DeviceOutputs || request.DevicePast is not null)
                Throw.Argument("a fused export runs several rows of several tokens after a past one row at a time, which device outputs do not support: run the rows one by one",
                    "device_outputs", request.InputIds.Length);
            return RowByRow.Run(request, one => Run(one, cancellation));
        }
        var ids = request.InputIds;
        int batch = ids.Length;
        if (batch == 0) Throw.Argument("empty batch", "input_ids", 0);
        int seq = ids[0].Length;
        if (seq == 0) Throw.Argument("empty sequence", "input_ids", 0);
        foreach (var row in ids) if (row.Length != seq) Throw.Argument("all rows must have the same length (pad them)", "input_ids", row.Length);
        var c = Manifest.Config;
        if (request.Past is not null && request.DevicePast is not null) Throw.Argument("give the past either on the host or on the device, not both", "past", "Past and DevicePast");
        int past = request.Past?.Length ?? request.DevicePast?.Length ?? 0;
        if (request.Past is { } pkv && (pkv.Keys.Count != c.NumLayers || pkv.Values.Count != c.NumLayers))
            Throw.Argument($"past cache must hold {c.NumLayers} layers", "past", pkv.Keys.Count);
        if (request.DevicePast is { } dkv)
        {
            if (dkv.Keys.Count != c.NumLayers || dkv.Values.Count != c.NumLayers) Throw.Argument($"past cache must hold {c.NumLayers} layers", "past", dkv.Keys.Count);
            if (dkv.Owner != this) Throw.Argument("a device cache can only be fed to the session that made it", "past", "DevicePast");
        }
        var mask = request.AttentionMask ?? Enumerable.Range(0, batch).Select(_ => Enumerable.Repeat(1, past + seq).ToArray()).ToArray();
        CheckShape(mask, batch, past + seq, "attention_mask");
        var positions = request.PositionIds ?? ForwardRequest.DefaultPositions(mask).Select(r => r[past..]).ToArray();
        CheckShape(positions, batch, seq, "position_ids");
        int vocab = Manifest.Config.VocabSize;
        foreach (var row in ids)
            foreach (var t in row)
                if ((uint)t >= (uint)vocab) Throw.Argument($"token id outside the vocabulary of {vocab}", "input_ids", t);

        var hooks = ResolveHooks(request.Hooks);
        var injections = request.Interventions is { Count: > 0 } ivs
            ? InjectionCompiler.Compile(ivs, _hookDims, batch, seq) : [];
        if (injections.Count > 0 && !Manifest.InjectionInputs) Throw.Argument("this export has no injection inputs", "interventions", injections[0].Hook);
        var logitRows = PositionRows(request.LogitPositions, seq, "logit_positions");
        var hookRows = PositionRows(request.CapturePositions, seq, "capture_positions");
        // The head computes rows keepFrom..seq-1 only (the graph's logits_to_keep), when the graph has the input.
        int keepFrom = logitRows is { Length: > 0 } && _logitsToKeep ? logitRows.Min() : 0;
        int kept = seq - keepFrom;

        if (plain && (hooks.Count > 0 || injections.Count > 0))
            throw new InvalidOperationException("decode.onnx has no hook outputs or injection inputs");
        using var run = Bind(plain ? Decode() : null);
        run.Input("input_ids", Flatten(ids), [batch, seq]);
        run.Input("attention_mask", Flatten(mask), [batch, past + seq]);
        run.Input("position_ids", Flatten(positions), [batch, seq]);
        if (kept < seq) run.Input(DecoderGraph.LogitsToKeep, [kept], [1]);
        var emptyPast = request.Past is null && request.DevicePast is null ? EmptyPast(batch) : null;
        for (int l = 0; l < c.NumLayers; l++)
        {
            if (request.Past is { } kv)
            {
                CheckCache(kv.Keys[l].Shape, batch, past, l);
                CheckCache(kv.Values[l].Shape, batch, past, l);
                run.Input(DecoderGraph.PastKey(l), ToOrt(kv.Keys[l]));
                run.Input(DecoderGraph.PastValue(l), ToOrt(kv.Values[l]));
            }
            else if (request.DevicePast is { } dev)
            {
                CheckCache(dev.Keys[l].Shape, batch, past, l);
                CheckCache(dev.Values[l].Shape, batch, past, l);
                run.Shared(DecoderGraph.PastKey(l), dev.Keys[l].Value);
                run.Shared(DecoderGraph.PastValue(l), dev.Values[l].Value);
            }
            else
            {
                run.Shared(DecoderGraph.PastKey(l), emptyPast!);
                run.Shared(DecoderGraph.PastValue(l), emptyPast!);
            }
        }
        BindInjections(run, injections);

        // Outputs: logits (always to the host), hooks, present keys and values.
        bool device = request.DeviceOutputs;
        var logits = run.Host("logits", [batch, kept, vocab], float32: true, into: logitsBuffer);
        var hookOut = hooks.Select(h => device ? run.Device(h.ToString()) : run.Host(h.ToString(), [batch, seq, _hookDims[h].Dim])).ToArray();
        int[] kvShape = [batch, c.NumKvHeads, past + seq, c.HeadDim];
        var presentOut = new List<BoundRun.Output>();
        for (int l = 0; l < c.NumLayers && request.ReturnPresent; l++)
            foreach (var name in new[] { DecoderGraph.PresentKey(l), DecoderGraph.PresentValue(l) })
                presentOut.Add(device ? run.Device(name) : run.Host(name, kvShape));

        run.Run(Path.Combine(Directory, plain ? Manifest.DecodeFile! : Manifest.ModelFile), cancellation);

        var logitsTensor = run.ToHost(logits);
        if (logitRows is not null)
        {
            var pick = logitRows.Select(r => r - keepFrom).ToArray();
            if (!pick.SequenceEqual(Enumerable.Range(0, kept))) logitsTensor = SliceRows(logitsTensor, pick);
        }
        var cache = new Dictionary<HookName, FloatTensor>();
        Dictionary<HookName, DeviceTensor>? deviceCache = device ? new() : null;
        for (int i = 0; i < hooks.Count; i++)
        {
            if (device) deviceCache![hooks[i]] = new DeviceTensor(this, run.Take(hookOut[i]), hookRows);
            else cache[hooks[i]] = hookRows is null ? run.ToHost(hookOut[i]) : SliceRows(run.ToHost(hookOut[i]), hookRows);
        }
        KvCache? present = null;
        DeviceKvCache? devicePresent = null;
        if (request.ReturnPresent && device)
            devicePresent = new DeviceKvCache(this,
                Enumerable.Range(0, c.NumLayers).Select(l => new DeviceTensor(this, run.Take(presentOut[2 * l]))).ToList(),
                Enumerable.Range(0, c.NumLayers).Select(l => new DeviceTensor(this, run.Take(presentOut[2 * l + 1]))).ToList());
        else if (request.ReturnPresent)
            present = new KvCache(
                Enumerable.Range(0, c.NumLayers).Select(l => run.ToHost(presentOut[2 * l])).ToList(),
                Enumerable.Range(0, c.NumLayers).Select(l => run.ToHost(presentOut[2 * l + 1])).ToList());
        return new ForwardResult(logitsTensor, cache) { Present = present, DeviceCache = deviceCache, DevicePresent = devicePresent };
    }

    BoundRun Bind(InferenceSession? session = null) => new(session ?? _session, _deviceMemory, _fp16, synchronize: _cuda);

    void BindInjections(BoundRun run, IReadOnlyList<HookInjection> injections)
    {
        foreach (var inj in injections)
        {
            var h = Manifest.Hooks.First(x => x.Name == inj.Hook).Injection!;
            if (inj.Scale is { } s) run.Input(h.Scale, ToOrt(s));
            if (inj.Shift is { } t) run.Input(h.Shift, ToOrt(t));
            if (inj.Proj is { } p) run.Input(h.Proj!, ToOrt(p));
            if (inj.ProjMask is { } m) run.Input(h.ProjMask!, ToOrt(m));
        }
    }

    /// <summary>A zero-length past [B, kvH, 0, hd] for each batch size, made once and shared by every run (ORT only reads it).</summary>
    OrtValue EmptyPast(int batch)
    {
        lock (_emptyPast)
        {
            if (_emptyPast.TryGetValue(batch, out var v)) return v;
            var c = Manifest.Config;
            v = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, _fp16 ? TensorElementType.Float16 : TensorElementType.Float,
                [batch, c.NumKvHeads, 0, c.HeadDim]);
            _emptyPast[batch] = v;
            return v;
        }
    }

    /// <summary>Rows <paramref name="rows"/> of the second axis of a [B, S, d] tensor, in that order.</summary>
    internal static FloatTensor SliceRows(FloatTensor t, int[] rows)
    {
        int b = t.Shape[0], s = t.Shape[1], d = t.Shape[2];
        var sliced = GC.AllocateUninitializedArray<float>(b * rows.Length * d);
        for (int row = 0; row < b; row++)
            for (int j = 0; j < rows.Length; j++)
                t.Data.AsSpan((row * s + rows[j]) * d, d).CopyTo(sliced.AsSpan((row * rows.Length + j) * d, d));
        return new FloatTensor(sliced, b, rows.Length, d);
    }

    /// <summary>
    /// Generates from left-padded prompts with the KV cache: greedy, or temperature/top-p sampling with a seed; stops at
    /// stop tokens or the token limit; applies interventions at prompt positions and at every generated position.
    /// </summary>
    public GenerationResult Generate(IReadOnlyList<int[]> prompts, GenerationOptions? options = null,
        IProgress<GenerationProgress>? progress = null, CancellationToken cancellation = default) =>
        GenerationLoop.Generate(this, prompts, options ?? new GenerationOptions(), progress, cancellation);

    /// <summary>True when the export has decode.onnx: the model without hook I/O, which generation without interventions runs.</summary>
    public bool HasDecodeGraph => Manifest.DecodeFile is not null;

    /// <summary>decode.onnx's session, opened on first use over the same mapped weights and packed copies.</summary>
    InferenceSession Decode()
    {
        lock (_partsLock)
            return _decode ??= Load(Path.Combine(Directory, Manifest.DecodeFile!), _config, null, _weights).Session;
    }

    /// <summary>True when the export has per-layer graphs, so <see cref="RunLayer"/> and <see cref="RunHead"/> work.</summary>
    public bool HasLayerGraphs => Manifest.LayerFiles is not null && Manifest.HeadFile is not null;

    InferenceSession Part(int index)
    {
        if (!HasLayerGraphs) Throw.Argument("this export has no per-layer graphs (export with LayerGraphs)", "layer", index);
        lock (_partsLock)
        {
            if (_parts[index] is { } s) return s;
            var file = index < Manifest.Config.NumLayers ? Manifest.LayerFiles![index] : Manifest.HeadFile!;
            return _parts[index] = Load(Path.Combine(Directory, file), _config, null, _weights).Session;
        }
    }

    /// <summary>
    /// Runs one layer on hidden states [B, S, d] (its input, blocks.{l}.hook_resid_pre) with that layer's past keys and
    /// values [B, kvH, P, hd] and a mask over P + S positions; returns blocks.{l}.hook_resid_post [B, S, d]. Interventions
    /// may target this layer's hooks. Layers below need not run again: analyses restart the model here.
    /// </summary>
    public FloatTensor RunLayer(int layer, FloatTensor hidden, FloatTensor pastKey, FloatTensor pastValue, int[][] attentionMask, int[][] positionIds,
        IReadOnlyList<Intervention>? interventions = null, CancellationToken cancellation = default)
    {
        var c = Manifest.Config;
        if ((uint)layer >= (uint)c.NumLayers) Throw.Argument($"layer outside 0..{c.NumLayers - 1}", "layer", layer);
        if (hidden.Rank != 3 || hidden.Shape[2] != c.HiddenSize) Throw.Argument($"hidden states must be [B, S, {c.HiddenSize}]", "hidden", string.Join(",", hidden.Shape));
        int batch = hidden.Shape[0], seq = hidden.Shape[1], past = pastKey.Shape[2];
        CheckCache(pastKey.Shape, batch, past, layer);
        CheckCache(pastValue.Shape, batch, past, layer);
        CheckShape(attentionMask, batch, past + seq, "attention_mask");
        CheckShape(positionIds, batch, seq, "position_ids");
        if (Manifest.Fused && batch > 1 && seq > 1 && past > 0)
        {
            // GroupQueryAttention refuses several new tokens after a past for more than one row: run the rows one by one.
            RowByRow.CheckRows(interventions, batch);
            var rows = new List<FloatTensor>(batch);
            for (int b = 0; b < batch; b++)
                rows.Add(RunLayer(layer, RowByRow.Row(hidden, b), RowByRow.Row(pastKey, b), RowByRow.Row(pastValue, b), [attentionMask[b]], [positionIds[b]],
                    RowByRow.ForRow(interventions, b), cancellation));
            return RowByRow.Stack(rows);
        }
        using var run = Bind(Part(layer));
        run.Input(DecoderGraph.HiddenInput, ToOrt(hidden));
        run.Input("attention_mask", Flatten(attentionMask), [batch, past + seq]);
        run.Input("position_ids", Flatten(positionIds), [batch, seq]);
        run.Input(DecoderGraph.PastKey(layer), ToOrt(pastKey));
        run.Input(DecoderGraph.PastValue(layer), ToOrt(pastValue));
        if (interventions is { Count: > 0 })
        {
            var mine = interventions.Where(i => i.Hook.Layer == layer).ToList();
            if (mine.Count != interventions.Count) Throw.Argument($"interventions must target layer {layer}'s hooks", "intervention.hook", interventions.First(i => !mine.Contains(i)).Hook);
            BindInjections(run, InjectionCompiler.Compile(mine, _hookDims, batch, seq));
        }
        var output = run.Host(HookName.ResidPost(layer).ToString(), [batch, seq, c.HiddenSize]);
        run.Run(Path.Combine(Directory, Manifest.LayerFiles![layer]), cancellation);
        return run.ToHost(output);
    }

    /// <summary>The final norm and unembedding on hidden states [B, S, d]: logits [B, S, V].</summary>
    public FloatTensor RunHead(FloatTensor hidden, CancellationToken cancellation = default)
    {
        if (hidden.Rank != 3 || hidden.Shape[2] != Manifest.Config.HiddenSize)
            Throw.Argument($"hidden states must be [B, S, {Manifest.Config.HiddenSize}]", "hidden", string.Join(",", hidden.Shape));
        using var run = Bind(Part(Manifest.Config.NumLayers));
        run.Input(DecoderGraph.HiddenInput, ToOrt(hidden));
        var logits = run.Host("logits", [hidden.Shape[0], hidden.Shape[1], Manifest.Config.VocabSize], float32: true);
        run.Run(Path.Combine(Directory, Manifest.HeadFile!), cancellation);
        return run.ToHost(logits);
    }

    void CheckCache(int[] shape, int batch, int past, int layer)
    {
        var c = Manifest.Config;
        if (shape.Length != 4 || shape[0] != batch || shape[1] != c.NumKvHeads || shape[2] != past || shape[3] != c.HeadDim)
            Throw.Argument($"past cache of layer {layer} must be [{batch},{c.NumKvHeads},{past},{c.HeadDim}]", "past", "[" + string.Join(",", shape) + "]");
    }

    static void CheckShape(int[][] x, int batch, int seq, string name)
    {
        if (x.Length != batch) Throw.Argument($"expected {batch} rows", name, x.Length);
        foreach (var row in x) if (row.Length != seq) Throw.Argument($"expected rows of length {seq}", name, row.Length);
    }

    static long[] Flatten(int[][] x)
    {
        var r = new long[x.Length * x[0].Length];
        int k = 0;
        foreach (var row in x) foreach (var v in row) r[k++] = v;
        return r;
    }

    OrtValue ToOrt(FloatTensor t)
    {
        long[] shape = t.Shape.Select(d => (long)d).ToArray();
        if (!_fp16) return OrtValue.CreateTensorValueFromMemory(t.Data, shape);
        var half = new Float16[t.Length];
        for (int i = 0; i < half.Length; i++) half[i] = (Float16)t.Data[i];
        return OrtValue.CreateTensorValueFromMemory(half, shape);
    }

    static int[]? PositionRows(int[]? positions, int seq, string field)
    {
        if (positions is null) return null;
        var rows = new int[positions.Length];
        for (int i = 0; i < positions.Length; i++)
        {
            int p = positions[i] < 0 ? seq + positions[i] : positions[i];
            if ((uint)p >= (uint)seq) Throw.Argument($"position outside the sequence of {seq}", field, positions[i]);
            rows[i] = p;
        }
        return rows;
    }

    public void Dispose()
    {
        _session.Dispose();
        foreach (var p in _parts) p?.Dispose();
        _decode?.Dispose();
        if (_cuda) _deviceMemory.Dispose();
        lock (_emptyPast)
        {
            foreach (var v in _emptyPast.Values) v.Dispose();
            _emptyPast.Clear();
        }
        _weights?.Dispose();
    }
}
