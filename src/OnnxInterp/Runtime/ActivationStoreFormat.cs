namespace OnnxInterp.Runtime;

/// <summary>On-disk layout of an activation store.</summary>
public enum ActivationStoreFormat
{
    /// <summary>One .safetensors file; every tensor is [rows, positions, dim].</summary>
    Safetensors,

    /// <summary>A folder with one NumPy <c>&lt;name&gt;.npy</c> (format 1.0, C order) per tensor, plus metadata.json when metadata is given.</summary>
    Npy,
}

/// <summary>Element type activations are stored as; they are always read back as fp32.</summary>
public enum ActivationStoreDType
{
    /// <summary>IEEE single precision (safetensors "F32", npy '&lt;f4'): exact.</summary>
    F32,

    /// <summary>IEEE half precision (safetensors "F16", npy '&lt;f2'), round to nearest even: half the size, ~3 significant digits.</summary>
    F16,
}

/// <summary>One tensor of a store: <see cref="Rows"/> × <see cref="Positions"/> × <see cref="Dim"/>.</summary>
public sealed record ActivationStoreTensor(string Name, long Rows, int Positions, int Dim, ActivationStoreDType DType);
