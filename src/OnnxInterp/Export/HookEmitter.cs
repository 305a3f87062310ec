namespace OnnxInterp.Export;

/// <summary>
/// The graph I/O of one hook point, shared by the exporter and the hook rewriter so both name and compute it alike:
/// the injection sub-graph h' = (h − ((h·Pᵀ) ⊙ M) P) ⊙ scale + shift (when enabled) and the hook output (when enabled).
/// </summary>
static class HookEmitter
{
    /// <summary>
    /// Emits the hook at value <paramref name="h"/> and returns the value the rest of the model must read. The last
    /// injection op writes the hook's output name directly, so capture costs no copy. Residual hooks get the projection
    /// inputs; the MLP hook (the widest tensor) only scale and shift, which is all neuron ablation needs. Defaults are
    /// initializers that share the input's name: omitted inputs cost one broadcast op each.
    /// </summary>
    public static string Emit(GraphBuilder g, HookPoint hook, string h, OnnxType t, bool outputs, bool injection)
    {
        int dim = hook.Dim;
        string? output = outputs ? hook.Output : null;
        if (output is not null) g.Output(hook.Output, t, "batch_size", "sequence_length", dim);
        if (!injection)
            return output is null ? h : g.Op("Identity", [h], output);

        string x = h;
        if (hook.HasProjection)
        {
            g.ConstFloats(new float[dim], t, [1, 1, dim], hook.ProjInput);
            g.Input(hook.ProjInput, t, null, null, dim);
            g.ConstFloats([1f], t, [1, 1, 1], hook.ProjMaskInput);
            g.Input(hook.ProjMaskInput, t, null, null, 1);
            var pT = g.Op("Transpose", [hook.ProjInput], null, null, ("perm", new long[] { 0, 2, 1 }));
            var coeff = g.Op("Mul", [g.Op("MatMul", [h, pT]), hook.ProjMaskInput]);
            x = g.Op("Sub", [h, g.Op("MatMul", [coeff, hook.ProjInput])]);
        }
        g.ConstFloats([1f], t, [1, 1, 1], hook.ScaleInput);
        g.Input(hook.ScaleInput, t, null, null, null);
        g.ConstFloats(new float[dim], t, [1, 1, dim], hook.ShiftInput);
        g.Input(hook.ShiftInput, t, null, null, dim);
        return g.Op("Add", [g.Op("Mul", [x, hook.ScaleInput]), hook.ShiftInput], output);
    }
}
