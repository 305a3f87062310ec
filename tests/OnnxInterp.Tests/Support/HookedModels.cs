using OnnxInterp.Export;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Reference;

namespace OnnxInterp.Tests.Support;

/// <summary>
/// The two implementations of <see cref="IHookedModel"/> an analysis test runs on: "onnx" (the checkpoint exported and
/// opened in ONNX Runtime) and "reference" (<see cref="ReferenceModel"/> on the checkpoint itself, double precision,
/// no export). Tests take the kind from <see cref="Kinds"/> ([TestCaseSource]) and hold both models.
/// </summary>
public static class HookedModels
{
    public const string Onnx = "onnx", Reference = "reference";

    public static IEnumerable<string> Kinds => [Onnx, Reference];

    /// <summary>
    /// The model of a Hugging Face folder: its export to <paramref name="exportDir"/> in ONNX Runtime (exported here unless
    /// <paramref name="exportDir"/> already holds one), or the reference on the folder. Dispose it with <see cref="Dispose"/>.
    /// </summary>
    public static IHookedModel Open(string kind, string hfDir, string exportDir, ExportOptions? options = null) => kind switch
    {
        Onnx => ModelSession.Open(File.Exists(Path.Combine(exportDir, ModelManifest.FileName)) ? exportDir : Exported(hfDir, exportDir, options)),
        Reference => ReferenceModel.Open(hfDir),
        _ => throw new ArgumentException($"unknown model kind '{kind}' (onnx or reference)", nameof(kind)),
    };

    static string Exported(string hfDir, string exportDir, ExportOptions? options)
    {
        ModelExporter.Export(hfDir, exportDir, options ?? new ExportOptions { HashSource = false });
        return exportDir;
    }

    /// <summary>Frees what the model holds (ONNX Runtime sessions; the reference holds managed memory only).</summary>
    public static void Dispose(IHookedModel? model) => (model as IDisposable)?.Dispose();
}
