using System.CommandLine;
using OnnxInterp.Export;

namespace OnnxInterp.Cli.Commands;

static class InspectCommand
{
    public static Command Create(CliContext ctx)
    {
        var dir = new Argument<string>("model-dir") { Description = "An exported model folder." };
        var json = new Option<bool>("--json") { Description = "Print the manifest as JSON." };
        var cmd = new Command("inspect", """
            Print an exported model's manifest: architecture, sizes, hook points and their graph I/O.

            Examples:
              onnxinterp inspect ./tiny-onnx
              onnxinterp inspect ./tiny-onnx --json
            """)
        { dir, json };
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            var m = ModelManifest.Read(parse.GetValue(dir)!);
            if (parse.GetValue(json)) { ctx.Out.WriteLine(m.ToJson()); return ExitCodes.Ok; }
            ManifestPrinter.Print(m, ctx.Out);
            return ExitCodes.Ok;
        }));
        return cmd;
    }
}

static class ManifestPrinter
{
    public static void Print(ModelManifest m, TextWriter w)
    {
        var c = m.Config;
        w.WriteLine($"{m.Architecture} ({m.Family}), exported by {m.Exporter}, {m.DType}");
        w.WriteLine($"  source      {m.SourceHash ?? "(not hashed)"}");
        w.WriteLine($"  layers      {c.NumLayers}");
        w.WriteLine($"  hidden      {c.HiddenSize}   mlp {c.IntermediateSize}   vocab {c.VocabSize}");
        w.WriteLine($"  heads       {c.NumHeads} query / {c.NumKvHeads} key-value, head size {c.HeadDim}");
        w.WriteLine($"  rope        theta {c.RopeTheta}{(c.RopeScaling is { } r ? $", {r.Type} scaling x{r.Factor}" : "")}");
        w.WriteLine($"  embeddings  {(c.TieWordEmbeddings ? "tied" : "untied")}{(c.QkvBias ? ", q/k/v biases" : "")}{(c.SlidingWindow is { } sw ? $", sliding window {sw}" : "")}");
        w.WriteLine($"  parameters  {c.ParameterCount:N0}");
        w.WriteLine($"  files       {m.ModelFile}, {m.DataFile} (opset {m.Opset})");
        w.WriteLine($"  weights     {(m.Quantization is { } q ? $"{q} MatMulNBits" : "float")}{(m.Fused ? ", fused contrib ops" : "")}{(m.HookedFrom is { } h ? $"; hooked from {h}" : "")}");
        w.WriteLine($"  hook points {m.Hooks.Count} (outputs: {(m.HookOutputs ? "yes" : "no")}, injection inputs: {(m.InjectionInputs ? "yes" : "no")})");
        foreach (var layer in m.Hooks.GroupBy(h => h.Layer))
            w.WriteLine($"    layer {layer.Key,3}: {string.Join("  ", layer.Select(h => $"{h.Name} [{h.Dim}]"))}");
        if (m.InjectionInputs)
            w.WriteLine("  injection   <hook>.scale [B|1,S|1,1|d]  <hook>.shift [B|1,S|1,d]  <hook>.proj [B|1,k,d]  <hook>.proj_mask [B|1,S|1,1]");
    }
}
