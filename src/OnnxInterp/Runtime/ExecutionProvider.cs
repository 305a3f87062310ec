using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace OnnxInterp.Runtime;

public enum ExecutionProviderKind
{
    Cpu,
    Cuda,

    /// <summary>CUDA when it can be initialised, otherwise CPU with a warning.</summary>
    Auto,
}

/// <summary>Where and how a session runs. Immutable; defaults are CPU with ONNX Runtime's thread choice.</summary>
public readonly record struct SessionConfig()
{
    public ExecutionProviderKind Provider { get; init; } = ExecutionProviderKind.Cpu;
    public int CudaDeviceId { get; init; }

    /// <summary>Intra-op threads; 0 lets ONNX Runtime choose (one per physical core).</summary>
    public int Threads { get; init; }

    /// <summary>ORT graph optimisation level; "all" by default.</summary>
    public GraphOptimizationLevel Optimization { get; init; } = GraphOptimizationLevel.ORT_ENABLE_ALL;

    /// <summary>
    /// Where only some positions' logits are asked for, compute the head on the last positions only (the graph's
    /// logits_to_keep input). False computes every position's logits and slices them on the host, as exports without
    /// that input do; benchmarks use it to measure the difference.
    /// </summary>
    public bool LogitsInGraph { get; init; } = true;

    /// <summary>
    /// One memory-mapped copy of the weights and one packed copy of each MatMul weight for all of a model's graphs
    /// (model.onnx, decode.onnx, the per-layer and head graphs). False lets each graph load and pack its own, as before:
    /// about one more copy of the weights per graph in use (benchmarks measure the difference).
    /// </summary>
    public bool ShareWeights { get; init; } = true;

    /// <summary>
    /// Runs that request no hooks and no interventions (and generation without interventions) use the export's
    /// decode.onnx, the model without hook I/O: the same logits, bit for bit, without the injection sub-graphs of every
    /// hook point. False always runs model.onnx (benchmarks measure the difference).
    /// </summary>
    public bool PlainWhenUnhooked { get; init; } = true;

    /// <summary>
    /// The intra-op threads spin between operators while a run is in progress and stop spinning when it returns
    /// (ONNX Runtime's <c>session.intra_op.allow_spinning = 1</c> with <c>session.force_spinning_stop = 1</c>): a
    /// decode step's ~200 small operators then hand work over without waking threads from sleep, and an idle session
    /// does not steal the cores of the one that runs (ORT-NOTES). False never spins (<c>allow_spinning = 0</c>).
    /// </summary>
    public bool SpinWhileRunning { get; init; }
}

/// <summary>The CUDA provider could not be initialised; <see cref="Exception.Message"/> says which library is missing.</summary>
public sealed class ExecutionProviderException(string message, Exception? inner = null)
    : OnnxInterpException(message, null, "provider", "cuda", inner);

/// <summary>Probes and appends execution providers, turning native failures into <see cref="ExecutionProviderException"/>.</summary>
public static class ExecutionProviders
{
    // The CUDA provider's NEEDED entries (readelf -d; libcuda.so.1 is the driver's) and the cuDNN it dlopens.
    static readonly string[] CudaLibraries = ["libcuda.so.1", "libcudart.so.13", "libcublasLt.so.13", "libcublas.so.13", "libcurand.so.10", "libcudnn.so.9"];

    /// <summary>Returns null when CUDA can be used, else the reason (which library failed to load).</summary>
    public static string? ProbeCuda()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsWindows()) return "CUDA is only supported on Linux and Windows";
        if (OperatingSystem.IsLinux())
        {
            var missing = new List<string>();
            foreach (var lib in CudaLibraries)
            {
                if (!NativeLibrary.TryLoad(lib, out var h)) missing.Add(lib);
                else NativeLibrary.Free(h);
            }
            if (missing.Count > 0)
                return $"{string.Join(", ", missing)} could not be loaded: the CUDA provider of Microsoft.ML.OnnxRuntime.Gpu 1.31.0 needs the NVIDIA driver (libcuda.so.1), CUDA 13 and cuDNN 9 on the library path";
        }
        try
        {
            using var o = new SessionOptions();
            o.AppendExecutionProvider_CUDA(0);
            return null;
        }
        catch (Exception e) when (e is OnnxRuntimeException or DllNotFoundException or EntryPointNotFoundException)
        {
            return "the CUDA execution provider failed to initialise: " + e.Message;
        }
    }

    /// <summary>Appends the configured provider; true when the session will run on CUDA.</summary>
    internal static bool Append(SessionOptions options, SessionConfig config, Action<string>? warn)
    {
        switch (config.Provider)
        {
            case ExecutionProviderKind.Cuda:
                {
                    var why = ProbeCuda();
                    if (why is not null) throw new ExecutionProviderException(why);
                    options.AppendExecutionProvider_CUDA(config.CudaDeviceId);
                    return true;
                }
            case ExecutionProviderKind.Auto:
                {
                    var why = ProbeCuda();
                    if (why is null) { options.AppendExecutionProvider_CUDA(config.CudaDeviceId); return true; }
                    warn?.Invoke($"CUDA unavailable, running on CPU: {why}");
                    return false;
                }
            default:
                return false;
        }
    }
}
