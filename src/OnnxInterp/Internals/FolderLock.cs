namespace OnnxInterp.Internals;

/// <summary>
/// An exclusive lock on an output folder (its hidden <see cref="FileName"/>, locked by the operating system: flock on
/// Unix, a sharing lock on Windows), held for the whole run so that two workers given the same folder (a Kubernetes
/// Job's pod and its replacement with the same index) take turns instead of writing into each other's journal. The
/// lock dies with its process, so a killed worker never leaves it taken. Dispose releases it.
/// </summary>
sealed class FolderLock : IDisposable
{
    public const string FileName = ".onnxinterp.lock";

    readonly FileStream _stream;

    FolderLock(FileStream stream) => _stream = stream;

    /// <summary>
    /// Takes the lock of <paramref name="directory"/> (created if missing), waiting while another process holds it;
    /// <paramref name="waiting"/> is logged once if it must wait (by default: another worker writes the folder).
    /// </summary>
    public static FolderLock Acquire(string directory, Action<string>? log = null, CancellationToken cancellation = default, string? waiting = null)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, FileName);
        bool told = false;
        while (true)
        {
            cancellation.ThrowIfCancellationRequested();
            try
            {
                return new FolderLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
            }
            catch (IOException e) when (IsHeldElsewhere(e))
            {
                if (!told) log?.Invoke(waiting ?? $"another onnxinterp process is writing {directory} (a second worker of the same shard?); waiting for it to finish, then resuming from its journal");
                told = true;
                cancellation.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(250));
            }
        }
    }

    /// <summary>EWOULDBLOCK from flock (11 on Linux, 35 on macOS) or Windows' sharing and lock violations.</summary>
    static bool IsHeldElsewhere(IOException e) => e.HResult is 11 or 35 || (e.HResult < 0 && (e.HResult & 0xFFFF) is 0x20 or 0x21);

    public void Dispose() => _stream.Dispose();
}
