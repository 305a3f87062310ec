using Microsoft.Win32.SafeHandles;
using OnnxInterp.Checkpoints;

namespace OnnxInterp.Internals;

/// <summary>Positioned reads from files we did not write (safetensors, .npy): short reads and open failures become typed errors.</summary>
static class UntrustedFile
{
    public static SafeFileHandle OpenRead(string path, string kind)
    {
        try
        {
            return File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidFileException($"cannot open {kind} file: {e.Message}", path, inner: e);
        }
    }

    public static void ReadExactly(SafeFileHandle h, Span<byte> buffer, long offset, string path)
    {
        while (buffer.Length > 0)
        {
            int n = RandomAccess.Read(h, buffer, offset);
            if (n <= 0) Throw.InvalidFile("unexpected end of file", path, "offset", offset);
            buffer = buffer[n..];
            offset += n;
        }
    }

    /// <summary>
    /// Reads destination.Length elements of <paramref name="dtype"/> starting at byte <paramref name="offset"/> as fp32,
    /// in bounded chunks through a pooled buffer (streaming a large tensor leaves no garbage behind).
    /// </summary>
    public static void ReadFloat32(SafeFileHandle h, string path, TensorDType dtype, long offset, Span<float> destination)
    {
        int es = dtype.Size();
        const int chunkElements = 1 << 20;
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Min(destination.Length, chunkElements) * es);
        try
        {
            long done = 0;
            while (done < destination.Length)
            {
                int n = (int)Math.Min(chunkElements, destination.Length - done);
                var bytes = buffer.AsSpan(0, n * es);
                ReadExactly(h, bytes, offset + done * es, path);
                FloatConversion.ToFloat32(bytes, dtype, destination.Slice((int)done, n));
                done += n;
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
