using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxInterp.Export;
using OnnxInterp.Internals;

namespace OnnxInterp.Runtime;

/// <summary>
/// manifest.json comes with the model from the same stranger: before the session trusts it (hook tables, cache shapes,
/// injection names), every name and size it states is checked against the graph ONNX Runtime loaded.
/// </summary>
static class ManifestCheck
{
    /// <summary>The manifest describes the graph: every name it lists exists there with the element type and sizes it says.</summary>
    public static void AgainstGraph(ModelManifest m, InferenceSession session, string manifestPath)
    {
        // Injection inputs with defaults are overridable initializers, which ORT lists apart from the plain inputs.
        var inputs = session.InputMetadata.Concat(session.OverridableInitializerMetadata).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        var outputs = session.OutputMetadata;
        var c = m.Config;
        var elem = m.DType == ExportDType.Fp16 ? TensorElementType.Float16 : TensorElementType.Float;
        void Need(IReadOnlyDictionary<string, NodeMetadata> where, string name, string field, TensorElementType? type = null, params (int Axis, int Size)[] sizes)
        {
            if (!where.TryGetValue(name, out var meta))
                Throw.Mismatch($"the graph has no {(ReferenceEquals(where, inputs) ? "input" : "output")} of this name", manifestPath, field, name);
            if (!meta.IsTensor) Throw.Mismatch($"the graph's '{name}' is not a tensor", manifestPath, field, name);
            // Inputs are fed in the export's type; outputs are read back from fp32 or fp16 alike.
            if (type is { } t && meta.ElementDataType != t && !(ReferenceEquals(where, outputs) && meta.ElementDataType is TensorElementType.Float or TensorElementType.Float16))
                Throw.Mismatch($"the graph's '{name}' holds {meta.ElementDataType}, the manifest implies {t}", manifestPath, field, name);
            foreach (var (axis, size) in sizes)
            {
                var dims = meta.Dimensions;
                int a = axis < 0 ? dims.Length + axis : axis;
                if (a < 0 || a >= dims.Length || (dims[a] >= 0 && dims[a] != size))
                    Throw.Mismatch($"the graph's '{name}' has shape [{string.Join(",", dims)}], the manifest implies size {size} on axis {axis}", manifestPath, field, name);
            }
        }
        foreach (var name in m.Inputs) Need(inputs, name, "inputs");
        foreach (var name in m.Outputs) Need(outputs, name, "outputs");
        foreach (var name in (string[])["input_ids", "attention_mask", "position_ids"]) Need(inputs, name, "inputs");
        Need(outputs, "logits", "outputs", elem, (-1, c.VocabSize));
        for (int l = 0; l < c.NumLayers; l++)
        {
            Need(inputs, DecoderGraph.PastKey(l), "config.numLayers", elem, (1, c.NumKvHeads), (3, c.HeadDim));
            Need(inputs, DecoderGraph.PastValue(l), "config.numLayers", elem, (1, c.NumKvHeads), (3, c.HeadDim));
        }
        foreach (var h in m.Hooks)
        {
            if (m.HookOutputs)
            {
                // Run asks for hooks by name; the manifest's output name must be that name.
                if (h.Output != h.Name.ToString()) Throw.Mismatch("a hook's output must carry the hook's name", manifestPath, "hooks." + h.Name, h.Output);
                Need(outputs, h.Name.ToString(), "hooks." + h.Name, elem, (-1, h.Dim));
            }
            if (m.InjectionInputs)
            {
                if (h.Injection is null) Throw.Mismatch("injectionInputs is true but the hook names no injection inputs", manifestPath, "hooks." + h.Name);
                Need(inputs, h.Injection.Scale, "hooks." + h.Name, elem);
                Need(inputs, h.Injection.Shift, "hooks." + h.Name, elem, (-1, h.Dim));
                if (h.Injection.Proj is { } p) Need(inputs, p, "hooks." + h.Name, elem);
                if (h.Injection.ProjMask is { } pm) Need(inputs, pm, "hooks." + h.Name, elem);
            }
        }
    }
}
