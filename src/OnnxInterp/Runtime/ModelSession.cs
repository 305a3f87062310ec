using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxInterp.Export;
using OnnxInterp.Internals;

namespace OnnxInterp.Runtime;

/// <summary>
/// An exported model folder loaded into ONNX Runtime. Runs forward passes that capture the requested hooks and
/// apply interventions through the graph's injection inputs. Owns its InferenceSession; dispose it to free
/// native memory. Thread-safe for concurrent <see cref="Run"/> calls (ORT sessions are).
/// </summary>
public sealed class ModelSession : IDisposable
{
    readonly InferenceSession _session;
    readonly SessionConfig _config;
    readonly InferenceSession?[] _parts;
    readonly object _partsLock = new();
    readonly Dictionary<string, (int Dim, bool Projection)> _hookDims;
    readonly bool _fp16;

    ModelSession(string directory, ModelManifest manifest, InferenceSession session, SessionConfig config)
    {
        Directory = directory;
        Manifest = manifest;
        _session = session;
        _config = config;
        _parts = new InferenceSession?[manifest.Config.NumLayers + 1];
        _fp16 = manifest.DType == ExportDType.Fp16;
        _hookDims = manifest.Hooks.ToDictionary(h => h.Name, h => (h.Dim, h.Injection?.Proj is not null), StringComparer.Ordinal);
    }

    public string Directory { get; }
    public ModelManifest Manifest { get; }
    public IReadOnlyList<ManifestHook> Hooks => Manifest.Hooks;

    static SessionOptions CreateOptions(SessionConfig cfg, Action<string>? warn)
    {
        // Overridable initializers (our injection defaults) draw an ORT warning per input: keep the log to errors.
        var options = new SessionOptions { GraphOptimizationLevel = cfg.Optimization, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        if (cfg.Threads > 0) options.IntraOpNumThreads = cfg.Threads;
        // Idle spinning pools steal cores from the other model of a pair (ORT-NOTES: +23..88%).
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        ExecutionProviders.Append(options, cfg, warn);
        return options;
    }

    public static ModelSession Open(string directory, SessionConfig? config = null, Action<string>? warn = null)
    {
        var manifest = ModelManifest.Read(directory);
        var cfg = config ?? new SessionConfig();
        var modelPath = Path.Combine(directory, manifest.ModelFile);
        if (!File.Exists(modelPath)) Throw.InvalidFile("model file named by the manifest is missing", modelPath);
        var session = Load(modelPath, cfg, warn);
        try
        {
            ManifestCheck.AgainstGraph(manifest, session, Path.Combine(directory, ModelManifest.FileName));
            return new ModelSession(directory, manifest, session, cfg);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Checks the graph's external-data references (they must stay inside the model folder) and opens it; every ORT load
    /// failure becomes an <see cref="InvalidFileException"/> naming the file.
    /// </summary>
    static InferenceSession Load(string path, SessionConfig cfg, Action<string>? warn)
    {
        OnnxFileCheck.Validate(path);
        using var options = CreateOptions(cfg, warn);
        try
        {
            return new InferenceSession(path, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidFileException($"ONNX Runtime could not load the graph: {e.Message}", path, inner: e);
        }
    }

    /// <summary>Hook names matching the patterns, in graph order.</summary>
    public IReadOnlyList<string> ResolveHooks(IEnumerable<string>? patterns)
    {
        if (patterns is null) return [];
        var list = patterns.ToList();
        if (list.Count == 0) return [];
        var names = Manifest.Hooks.Where(h => HookFilter.Matches(h.Name, list)).Select(h => h.Name).ToList();
        if (names.Count == 0) Throw.Argument("no hook point matches", "hooks", string.Join(",", list));
        if (!Manifest.HookOutputs) Throw.Argument("this export has no hook outputs", "hooks", string.Join(",", list));
        return names;
    }

    /// <summary>
    /// One forward pass. Cancelling <paramref name="cancellation"/> stops ONNX Runtime mid-run (RunOptions.Terminate)
    /// and throws <see cref="OperationCanceledException"/>.
    /// </summary>
    public ForwardResult Run(ForwardRequest request, CancellationToken cancellation = default)
    {
        cancellation.ThrowIfCancellationRequested();
        if (Manifest.Fused && RowByRow.Needed(request)) return RowByRow.Run(request, one => Run(one, cancellation));
        var ids = request.InputIds;
        int batch = ids.Length;
        if (batch == 0) Throw.Argument("empty batch", "input_ids", 0);
        int seq = ids[0].Length;
        if (seq == 0) Throw.Argument("empty sequence", "input_ids", 0);
        foreach (var row in ids) if (row.Length != seq) Throw.Argument("all rows must have the same length (pad them)", "input_ids", row.Length);
        var c = Manifest.Config;
        int past = request.Past?.Length ?? 0;
        if (request.Past is { } pkv && (pkv.Keys.Count != c.NumLayers || pkv.Values.Count != c.NumLayers))
            Throw.Argument($"past cache must hold {c.NumLayers} layers", "past", pkv.Keys.Count);
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

        var names = new List<string>();
        var values = new List<OrtValue>();
        try
        {
            void Add(string name, OrtValue v) { names.Add(name); values.Add(v); }
            Add("input_ids", OrtValue.CreateTensorValueFromMemory(Flatten(ids), [batch, seq]));
            Add("attention_mask", OrtValue.CreateTensorValueFromMemory(Flatten(mask), [batch, past + seq]));
            Add("position_ids", OrtValue.CreateTensorValueFromMemory(Flatten(positions), [batch, seq]));
            long[] emptyPast = [batch, c.NumKvHeads, 0, c.HeadDim];
            var elem = _fp16 ? TensorElementType.Float16 : TensorElementType.Float;
            for (int l = 0; l < c.NumLayers; l++)
            {
                if (request.Past is { } kv)
                {
                    CheckCache(kv.Keys[l], batch, past, l);
                    CheckCache(kv.Values[l], batch, past, l);
                    Add(DecoderGraph.PastKey(l), ToOrt(kv.Keys[l]));
                    Add(DecoderGraph.PastValue(l), ToOrt(kv.Values[l]));
                }
                else
                {
                    Add(DecoderGraph.PastKey(l), OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, elem, emptyPast));
                    Add(DecoderGraph.PastValue(l), OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, elem, emptyPast));
                }
            }
            foreach (var inj in injections)
            {
                var h = Manifest.Hooks.First(x => x.Name == inj.Hook).Injection!;
                if (inj.Scale is { } s) Add(h.Scale, ToOrt(s));
                if (inj.Shift is { } t) Add(h.Shift, ToOrt(t));
                if (inj.Proj is { } p) Add(h.Proj!, ToOrt(p));
                if (inj.ProjMask is { } m) Add(h.ProjMask!, ToOrt(m));
            }

            var outputs = new List<string> { "logits" };
            outputs.AddRange(hooks);
            if (request.ReturnPresent)
                for (int l = 0; l < c.NumLayers; l++) { outputs.Add(DecoderGraph.PresentKey(l)); outputs.Add(DecoderGraph.PresentValue(l)); }
            using var runOptions = new RunOptions();
            using var registration = cancellation.Register(() => runOptions.Terminate = true);
            IDisposableReadOnlyCollection<OrtValue> results;
            try
            {
                results = _session.Run(runOptions, names, values, outputs);
            }
            catch (OnnxRuntimeException) when (cancellation.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellation);
            }
            catch (OnnxRuntimeException e)
            {
                // Inputs were checked above: a graph that loads but cannot run is a broken file.
                throw new InvalidFileException($"ONNX Runtime could not run the graph: {e.Message}", Path.Combine(Directory, Manifest.ModelFile), inner: e);
            }
            using var _ = results;
            var logitRows = PositionRows(request.LogitPositions, seq, "logit_positions");
            var hookRows = PositionRows(request.CapturePositions, seq, "capture_positions");
            var logits = FromOrt(results[0], logitRows);
            var cache = new Dictionary<string, FloatTensor>(StringComparer.Ordinal);
            for (int i = 0; i < hooks.Count; i++) cache[hooks[i]] = FromOrt(results[i + 1], hookRows);
            KvCache? present = null;
            if (request.ReturnPresent)
            {
                int first = 1 + hooks.Count;
                present = new KvCache(
                    Enumerable.Range(0, c.NumLayers).Select(l => FromOrt(results[first + 2 * l])).ToList(),
                    Enumerable.Range(0, c.NumLayers).Select(l => FromOrt(results[first + 2 * l + 1])).ToList());
            }
            return new ForwardResult(logits, cache) { Present = present };
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    /// <summary>
    /// Generates from left-padded prompts with the KV cache: greedy, or temperature/top-p sampling with a seed; stops at
    /// stop tokens or the token limit; applies interventions at prompt positions and at every generated position.
    /// </summary>
    public GenerationResult Generate(IReadOnlyList<int[]> prompts, GenerationOptions? options = null,
        IProgress<GenerationProgress>? progress = null, CancellationToken cancellation = default) =>
        GenerationLoop.Generate(this, prompts, options ?? new GenerationOptions(), progress, cancellation);

    /// <summary>True when the export has per-layer graphs, so <see cref="RunLayer"/> and <see cref="RunHead"/> work.</summary>
    public bool HasLayerGraphs => Manifest.LayerFiles is not null && Manifest.HeadFile is not null;

    InferenceSession Part(int index)
    {
        if (!HasLayerGraphs) Throw.Argument("this export has no per-layer graphs (export with LayerGraphs)", "layer", index);
        lock (_partsLock)
        {
            if (_parts[index] is { } s) return s;
            var file = index < Manifest.Config.NumLayers ? Manifest.LayerFiles![index] : Manifest.HeadFile!;
            return _parts[index] = Load(Path.Combine(Directory, file), _config, null);
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
        CheckCache(pastKey, batch, past, layer);
        CheckCache(pastValue, batch, past, layer);
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
        var inputs = new List<(string, OrtValue)>
        {
            (DecoderGraph.HiddenInput, ToOrt(hidden)),
            ("attention_mask", OrtValue.CreateTensorValueFromMemory(Flatten(attentionMask), [batch, past + seq])),
            ("position_ids", OrtValue.CreateTensorValueFromMemory(Flatten(positionIds), [batch, seq])),
            (DecoderGraph.PastKey(layer), ToOrt(pastKey)),
            (DecoderGraph.PastValue(layer), ToOrt(pastValue)),
        };
        if (interventions is { Count: > 0 })
        {
            var mine = interventions.Where(i => i.Hook.StartsWith($"blocks.{layer}.", StringComparison.Ordinal)).ToList();
            if (mine.Count != interventions.Count) Throw.Argument($"interventions must target layer {layer}'s hooks", "intervention.hook", interventions.First(i => !mine.Contains(i)).Hook);
            foreach (var inj in InjectionCompiler.Compile(mine, _hookDims, batch, seq))
            {
                var h = Manifest.Hooks.First(x => x.Name == inj.Hook).Injection!;
                if (inj.Scale is { } sc) inputs.Add((h.Scale, ToOrt(sc)));
                if (inj.Shift is { } sh) inputs.Add((h.Shift, ToOrt(sh)));
                if (inj.Proj is { } pr) inputs.Add((h.Proj!, ToOrt(pr)));
                if (inj.ProjMask is { } pm) inputs.Add((h.ProjMask!, ToOrt(pm)));
            }
        }
        return RunPart(Part(layer), Path.Combine(Directory, Manifest.LayerFiles![layer]), inputs, HookPoint.NameOf(HookKind.ResidPost, layer), cancellation);
    }

    /// <summary>The final norm and unembedding on hidden states [B, S, d]: logits [B, S, V].</summary>
    public FloatTensor RunHead(FloatTensor hidden, CancellationToken cancellation = default)
    {
        if (hidden.Rank != 3 || hidden.Shape[2] != Manifest.Config.HiddenSize)
            Throw.Argument($"hidden states must be [B, S, {Manifest.Config.HiddenSize}]", "hidden", string.Join(",", hidden.Shape));
        return RunPart(Part(Manifest.Config.NumLayers), Path.Combine(Directory, Manifest.HeadFile!), [(DecoderGraph.HiddenInput, ToOrt(hidden))], "logits", cancellation);
    }

    static FloatTensor RunPart(InferenceSession session, string file, List<(string Name, OrtValue Value)> inputs, string output, CancellationToken cancellation)
    {
        cancellation.ThrowIfCancellationRequested();
        try
        {
            using var runOptions = new RunOptions();
            using var registration = cancellation.Register(() => runOptions.Terminate = true);
            IDisposableReadOnlyCollection<OrtValue> results;
            try { results = session.Run(runOptions, inputs.Select(i => i.Name).ToList(), inputs.Select(i => i.Value).ToList(), [output]); }
            catch (OnnxRuntimeException) when (cancellation.IsCancellationRequested) { throw new OperationCanceledException(cancellation); }
            catch (OnnxRuntimeException e) { throw new InvalidFileException($"ONNX Runtime could not run the graph: {e.Message}", file, inner: e); }
            using var _ = results;
            return FromOrt(results[0]);
        }
        finally
        {
            foreach (var (_, v) in inputs) v.Dispose();
        }
    }

    void CheckCache(FloatTensor t, int batch, int past, int layer)
    {
        var c = Manifest.Config;
        if (t.Rank != 4 || t.Shape[0] != batch || t.Shape[1] != c.NumKvHeads || t.Shape[2] != past || t.Shape[3] != c.HeadDim)
            Throw.Argument($"past cache of layer {layer} must be [{batch},{c.NumKvHeads},{past},{c.HeadDim}]", "past", "[" + string.Join(",", t.Shape) + "]");
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

    /// <summary>Copies an ORT tensor into managed memory; for [B, S, d] tensors, only the positions in <paramref name="keep"/>.</summary>
    static FloatTensor FromOrt(OrtValue v, int[]? keep = null)
    {
        var info = v.GetTensorTypeAndShape();
        int[] shape = info.Shape.Select(d => checked((int)d)).ToArray();
        bool half = info.ElementDataType == TensorElementType.Float16;
        if (keep is null || shape.Length != 3)
        {
            var data = new float[checked((int)info.ElementCount)];
            Copy(v, half, 0, data);
            return new FloatTensor(data, shape);
        }
        int b = shape[0], s = shape[1], d = shape[2];
        var sliced = new float[b * keep.Length * d];
        for (int row = 0; row < b; row++)
            for (int j = 0; j < keep.Length; j++)
                Copy(v, half, ((long)row * s + keep[j]) * d, sliced.AsSpan((row * keep.Length + j) * d, d));
        return new FloatTensor(sliced, b, keep.Length, d);
    }

    static void Copy(OrtValue v, bool half, long offset, Span<float> destination)
    {
        if (half)
        {
            var src = v.GetTensorDataAsSpan<Float16>().Slice((int)offset, destination.Length);
            for (int i = 0; i < destination.Length; i++) destination[i] = (float)src[i];
        }
        else
        {
            v.GetTensorDataAsSpan<float>().Slice((int)offset, destination.Length).CopyTo(destination);
        }
    }

    public void Dispose()
    {
        _session.Dispose();
        foreach (var p in _parts) p?.Dispose();
    }
}
