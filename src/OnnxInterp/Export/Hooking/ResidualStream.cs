using Onnx;

namespace OnnxInterp.Export.Hooking;

/// <summary>One residual add: <see cref="Node"/> adds the sub-layer output <see cref="Branch"/> to <see cref="Residual"/>.</summary>
sealed record ResidualStep(NodeProto Node, string Residual, string Branch, string? Sum)
{
    public bool IsSkipNorm => Node.OpType == ResidualStream.SkipNorm;
}

/// <summary>
/// The residual stream of a Llama-family decoder graph, found by its pattern, not its names: from the embedding lookup
/// on input_ids, 2 · layers residual adds, each an Add or a SkipSimplifiedLayerNormalization (the model builder's
/// fusion, whose fourth output is the sum) that reads the stream and a sub-layer computed from it; an attention op
/// between the even ones, a MatMul or MatMulNBits down projection feeding the odd ones. Anything else is refused
/// with the node where the pattern broke.
/// </summary>
sealed class ResidualStream
{
    public const string SkipNorm = "SkipSimplifiedLayerNormalization";
    static readonly HashSet<string> AttentionOps =
        ["GroupQueryAttention", "MultiHeadAttention", "Attention", "PagedAttention", "SparseAttention", "Softmax"];

    ResidualStream(string embedding, List<ResidualStep> steps, List<NodeProto> attention, List<NodeProto> down, List<string> activations, int intermediate)
    {
        Embedding = embedding;
        AttentionNodes = attention;
        Steps = steps;
        DownProjections = down;
        MlpActivations = activations;
        IntermediateSize = intermediate;
    }

    /// <summary>The embedding lookup's output: layer 0's hook_resid_pre.</summary>
    public string Embedding { get; }

    /// <summary>2 · layers steps: layer l's attention add at 2l, its MLP add at 2l + 1.</summary>
    public IReadOnlyList<ResidualStep> Steps { get; }

    /// <summary>Each layer's attention op (GroupQueryAttention, MultiHeadAttention, …; the Softmax of a plain graph).</summary>
    public IReadOnlyList<NodeProto> AttentionNodes { get; }

    /// <summary>Each layer's down projection (MatMul or MatMulNBits) and its input, the MLP activation.</summary>
    public IReadOnlyList<NodeProto> DownProjections { get; }
    public IReadOnlyList<string> MlpActivations { get; }
    public int IntermediateSize { get; }

    public static ResidualStream Find(GraphIndex index, int layers, int hidden, string file)
    {
        var lookups = index.Consumers("input_ids").Where(n => n.OpType is "Gather" or "GatherBlockQuantized" && n.Input.Count > 1 && n.Input[1] == "input_ids").ToList();
        if (lookups.Count != 1)
            throw new UnmappedGraphException($"expected one embedding lookup (a Gather of input_ids), found {lookups.Count}", file,
                lookups.Count > 1 ? lookups[1].Name : index.Consumers("input_ids").FirstOrDefault()?.Name ?? "input_ids");
        string embedding = lookups[0].Output[0];

        var steps = new List<ResidualStep>();
        var attention = new List<NodeProto>();
        var down = new List<NodeProto>();
        var activations = new List<string>();
        int intermediate = 0;
        string? r = embedding;
        for (int k = 0; k < 2 * layers; k++)
        {
            int layer = k / 2;
            string where = $"layer {layer}'s {(k % 2 == 0 ? "attention" : "MLP")} residual add";
            if (r is null)
                throw new UnmappedGraphException($"{where}: the previous {SkipNorm} does not output the residual sum (output 3)", file, steps[^1].Node.Name);
            var candidates = ResidualOps(index, r).ToList();
            if (candidates.Count != 1)
                throw new UnmappedGraphException($"{where}: expected one Add or {SkipNorm} adding a sub-layer computed from '{r}', found {candidates.Count}", file,
                    candidates.Count > 1 ? candidates[1].Node.Name : index.Producer(r)?.Name ?? r);
            var (node, branch) = candidates[0];
            string? sum = node.OpType == "Add" ? node.Output[0] : node.Output.Count > 3 && node.Output[3].Length > 0 ? node.Output[3] : null;
            steps.Add(new ResidualStep(node, r, branch, sum));

            var between = index.NodesBetween(r, branch).ToList();
            if (k % 2 == 0)
            {
                var op = between.Where(n => AttentionOps.Contains(n.OpType)).OrderBy(n => n.OpType == "Softmax").FirstOrDefault()
                    ?? throw new UnmappedGraphException($"{where}: no attention op between the stream and this add", file, node.Name);
                attention.Add(op);
            }
            else
            {
                var (proj, act, kDim, nDim) = DownProjection(index, branch, file, where);
                if (nDim != hidden) throw new UnmappedGraphException($"{where}: the down projection outputs {nDim} features, the model's hidden size is {hidden}", file, proj.Name);
                if (intermediate != 0 && kDim != intermediate)
                    throw new UnmappedGraphException($"{where}: the down projection reads {kDim} features, layer 0's reads {intermediate}", file, proj.Name);
                intermediate = kDim;
                down.Add(proj);
                activations.Add(act);
            }
            r = sum;
        }
        if (r is not null && ResidualOps(index, r).FirstOrDefault() is { Node: { } extra })
            throw new UnmappedGraphException($"the stream continues past the {layers} layers of the model's config", file, extra.Name);
        return new ResidualStream(embedding, steps, attention, down, activations, intermediate);
    }

    /// <summary>Adds (or skip norms) that read <paramref name="r"/> and a value computed from it.</summary>
    static IEnumerable<(NodeProto Node, string Branch)> ResidualOps(GraphIndex index, string r)
    {
        foreach (var n in index.Consumers(r))
        {
            if (n.OpType is not ("Add" or SkipNorm) || n.Input.Count < 2) continue;
            string? other = n.Input[0] == r ? n.Input[1] : n.Input[1] == r ? n.Input[0] : null;
            if (other is null || other == r || other.Length == 0) continue;
            if (index.DependsOn(other, r)) yield return (n, other);
        }
    }

    /// <summary>The MatMul or MatMulNBits (after an optional bias Add) whose output is the MLP branch; its input is the activation.</summary>
    static (NodeProto Node, string Activation, int K, int N) DownProjection(GraphIndex index, string branch, string file, string where)
    {
        var p = index.Producer(branch) ?? throw new UnmappedGraphException($"{where}: '{branch}' has no producer", file, branch);
        if (p.OpType == "Add" && p.Input.FirstOrDefault(i => index.Initializers.ContainsKey(i)) is { } bias)
            p = index.Producer(p.Input[0] == bias ? p.Input[1] : p.Input[0]) ?? p;
        if (p.OpType == "MatMulNBits")
            return (p, p.Input[0], (int)GraphIndex.Attribute(p, "K", 0L), (int)GraphIndex.Attribute(p, "N", 0L));
        if (p.OpType == "MatMul" && index.Initializers.TryGetValue(p.Input[1], out var w) && w.Dims.Count == 2)
            return (p, p.Input[0], (int)w.Dims[0], (int)w.Dims[1]);
        throw new UnmappedGraphException($"{where}: the MLP output comes from a {p.OpType}, expected a MatMul or MatMulNBits down projection", file, p.Name);
    }
}
