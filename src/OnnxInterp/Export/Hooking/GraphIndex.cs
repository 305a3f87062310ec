using Onnx;

namespace OnnxInterp.Export.Hooking;

/// <summary>Who produces and who consumes each value of a graph, and its initializers. Rebuild it after editing the graph.</summary>
sealed class GraphIndex
{
    readonly Dictionary<string, NodeProto> _producer = new(StringComparer.Ordinal);
    readonly Dictionary<string, List<NodeProto>> _consumers = new(StringComparer.Ordinal);

    public GraphIndex(GraphProto graph)
    {
        Graph = graph;
        foreach (var n in graph.Node)
        {
            foreach (var o in n.Output) if (o.Length > 0) _producer[o] = n;
            foreach (var i in n.Input)
            {
                if (i.Length == 0) continue;
                if (!_consumers.TryGetValue(i, out var list)) _consumers[i] = list = [];
                if (!list.Contains(n)) list.Add(n);
            }
        }
        Initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        Inputs = graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        Outputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
    }

    public GraphProto Graph { get; }
    public IReadOnlyDictionary<string, TensorProto> Initializers { get; }
    public IReadOnlySet<string> Inputs { get; }
    public IReadOnlySet<string> Outputs { get; }

    public NodeProto? Producer(string value) => _producer.GetValueOrDefault(value);

    public IReadOnlyList<NodeProto> Consumers(string value) => _consumers.TryGetValue(value, out var l) ? l : [];

    /// <summary>
    /// True when <paramref name="value"/> is computed (transitively) from <paramref name="ancestor"/>, counting the other
    /// outputs of the node that produces it: a SkipSimplifiedLayerNormalization's normalized output goes with its sum.
    /// </summary>
    public bool DependsOn(string value, string ancestor)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<string>();
        stack.Push(value);
        while (stack.Count > 0)
        {
            var v = stack.Pop();
            if (v == ancestor) return true;
            if (!seen.Add(v) || Producer(v) is not { } n) continue;
            if (n.Output.Contains(ancestor)) return true;
            foreach (var i in n.Input) if (i.Length > 0) stack.Push(i);
        }
        return false;
    }

    /// <summary>The nodes between <paramref name="from"/> (exclusive) and <paramref name="value"/>: those computing value from it.</summary>
    public IEnumerable<NodeProto> NodesBetween(string from, string value)
    {
        var seen = new HashSet<NodeProto>();
        var stack = new Stack<string>();
        stack.Push(value);
        while (stack.Count > 0)
        {
            var v = stack.Pop();
            if (v == from || Producer(v) is not { } n || n.Output.Contains(from) || !seen.Add(n)) continue;
            if (!n.Input.Any(i => i.Length > 0 && DependsOn(i, from))) continue;
            yield return n;
            foreach (var i in n.Input) if (i.Length > 0) stack.Push(i);
        }
    }

    public static long Attribute(NodeProto n, string name, long fallback) =>
        n.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.I : fallback;

    public static float Attribute(NodeProto n, string name, float fallback) =>
        n.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.F : fallback;

    /// <summary>Removes nodes none of whose outputs is used, repeatedly, then initializers nothing reads.</summary>
    public static void Prune(GraphProto graph)
    {
        var outputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        bool changed = true;
        while (changed)
        {
            var used = graph.Node.SelectMany(n => n.Input).Where(i => i.Length > 0).ToHashSet(StringComparer.Ordinal);
            var dead = graph.Node.Where(n => !n.Output.Any(o => o.Length > 0 && (used.Contains(o) || outputs.Contains(o)))).ToList();
            foreach (var n in dead) graph.Node.Remove(n);
            changed = dead.Count > 0;
        }
        var read = graph.Node.SelectMany(n => n.Input).Concat(graph.Output.Select(o => o.Name)).ToHashSet(StringComparer.Ordinal);
        var inputs = graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var t in graph.Initializer.Where(t => !read.Contains(t.Name) && !inputs.Contains(t.Name)).ToList()) graph.Initializer.Remove(t);
        // Shape annotations of values that no longer exist would only confuse readers of the graph.
        var values = graph.Node.SelectMany(n => n.Output).Concat(inputs).Concat(graph.Initializer.Select(t => t.Name)).ToHashSet(StringComparer.Ordinal);
        foreach (var v in graph.ValueInfo.Where(v => !values.Contains(v.Name)).ToList()) graph.ValueInfo.Remove(v);
    }

    /// <summary>Orders the nodes so every value is produced before it is read (Kahn), as ONNX requires.</summary>
    public static void SortTopologically(GraphProto graph, string file)
    {
        var available = graph.Input.Select(i => i.Name).Concat(graph.Initializer.Select(t => t.Name)).ToHashSet(StringComparer.Ordinal);
        available.Add("");
        var producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var n in graph.Node) foreach (var o in n.Output) if (o.Length > 0) producers[o] = n;
        var pending = graph.Node.ToDictionary(n => n, n => n.Input.Count(i => !available.Contains(i) && producers.ContainsKey(i)));
        var consumers = new Dictionary<string, List<NodeProto>>(StringComparer.Ordinal);
        foreach (var n in graph.Node)
            foreach (var i in n.Input.Where(i => !available.Contains(i) && producers.ContainsKey(i)))
            {
                var l = consumers.TryGetValue(i, out var list) ? list : consumers[i] = [];
                if (!l.Contains(n)) l.Add(n);
            }
        var ready = new Queue<NodeProto>(graph.Node.Where(n => pending[n] == 0));
        var order = new List<NodeProto>(graph.Node.Count);
        while (ready.Count > 0)
        {
            var n = ready.Dequeue();
            order.Add(n);
            foreach (var o in n.Output)
                foreach (var c in consumers.GetValueOrDefault(o) ?? [])
                    foreach (var _ in c.Input.Where(i => i == o))
                        if (--pending[c] == 0) ready.Enqueue(c);
        }
        if (order.Count != graph.Node.Count)
        {
            var stuck = graph.Node.First(n => !order.Contains(n));
            throw new UnmappedGraphException("the graph has a cycle or reads a value nothing produces", file, stuck.Name);
        }
        graph.Node.Clear();
        graph.Node.AddRange(order);
    }
}
