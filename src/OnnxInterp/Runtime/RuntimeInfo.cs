using Microsoft.ML.OnnxRuntime;

namespace OnnxInterp.Runtime;

/// <summary>Versions a report records, so a result can be traced to the runtime that produced it.</summary>
public static class RuntimeInfo
{
    /// <summary>The native ONNX Runtime's version string (e.g. "1.31.0").</summary>
    public static string OnnxRuntimeVersion => OrtEnv.Instance().GetVersionString();
}
