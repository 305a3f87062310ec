using System.Diagnostics;
using System.Runtime.InteropServices;

namespace OnnxInterp.Internals;

/// <summary>
/// Writes go to a hidden temporary sibling of the target and are renamed into place on success, so a reader never sees
/// a half-written file and a crash leaves the previous version intact. Temporary names carry the writer's process id
/// (<c>.name.PID-GUID.tmp</c>, <c>.partial</c>, <c>.old</c>): a process killed mid-write leaves its sibling behind,
/// and the next write of the same target removes siblings whose process is gone (<see cref="CleanStale"/>).
/// </summary>
static partial class AtomicFile
{
    public static void Write(string path, Action<FileStream> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        CleanStale(full);
        var tmp = TempSibling(full, "tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    public static void WriteAllText(string path, string text) =>
        Write(path, fs => { using var w = new StreamWriter(fs, new System.Text.UTF8Encoding(false), leaveOpen: true); w.Write(text); });

    /// <summary>
    /// Builds a whole folder beside <paramref name="directory"/> and swaps it in at the end; on failure the old folder
    /// (if any) is untouched and the partial one is removed.
    /// </summary>
    public static void WriteDirectory(string directory, Action<string> build)
    {
        var full = Path.GetFullPath(directory).TrimEnd(Path.DirectorySeparatorChar);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        CleanStale(full);
        var staging = TempSibling(full, "partial");
        Directory.CreateDirectory(staging);
        try
        {
            build(staging);
            SwapDirectory(staging, full);
        }
        catch
        {
            TryDeleteDirectory(staging);
            throw;
        }
    }

    /// <summary>A hidden sibling of <paramref name="full"/> owned by this process: <c>.name.PID-GUID.suffix</c>.</summary>
    public static string TempSibling(string full, string suffix)
    {
        full = full.TrimEnd(Path.DirectorySeparatorChar);
        return Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}-{Guid.NewGuid():N}.{suffix}");
    }

    /// <summary>
    /// Moves a finished folder to <paramref name="full"/>, replacing any folder there. On Linux the two are exchanged in
    /// one atomic rename (renameat2 RENAME_EXCHANGE), so <paramref name="full"/> always holds a complete folder; elsewhere
    /// (or where the file system refuses the exchange) the old folder is moved aside first, and if the process dies
    /// between the two renames the next <see cref="CleanStale"/> moves it back.
    /// </summary>
    public static void SwapDirectory(string staging, string full)
    {
        if (!Directory.Exists(full))
        {
            Directory.Move(staging, full);
            return;
        }
        if (TryExchange(staging, full))
        {
            TryDeleteDirectory(staging); // now the previous folder
            return;
        }
        var old = TempSibling(full, "old");
        Directory.Move(full, old);
        try
        {
            Directory.Move(staging, full);
        }
        catch
        {
            Directory.Move(old, full);
            throw;
        }
        TryDeleteDirectory(old);
    }

    /// <summary>
    /// Removes what killed writers of <paramref name="full"/> left beside it: <c>.tmp</c> files and <c>.partial</c> folders
    /// of processes that no longer run. An <c>.old</c> folder of a dead process is the previous version: it is moved back
    /// when <paramref name="full"/> is missing (the writer died between its two renames), else removed.
    /// </summary>
    public static void CleanStale(string full)
    {
        full = full.TrimEnd(Path.DirectorySeparatorChar);
        var dir = Path.GetDirectoryName(full)!;
        var prefix = "." + Path.GetFileName(full) + ".";
        if (!Directory.Exists(dir)) return;
        IEnumerable<string> entries;
        try { entries = Directory.EnumerateFileSystemEntries(dir, ".*").ToList(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return; }
        foreach (var entry in entries)
        {
            var leaf = Path.GetFileName(entry);
            if (!leaf.StartsWith(prefix, StringComparison.Ordinal)) continue;
            var rest = leaf[prefix.Length..];             // PID-GUID.suffix
            int dash = rest.IndexOf('-'), dot = rest.LastIndexOf('.');
            if (dash <= 0 || dot != dash + 33 || !int.TryParse(rest.AsSpan(0, dash), System.Globalization.NumberStyles.None, null, out int pid)) continue;
            if (rest.AsSpan(dash + 1, 32).ContainsAnyExcept(HexDigits)) continue;   // the GUID, "N" format
            var suffix = rest[(dot + 1)..];
            if (suffix is not ("tmp" or "partial" or "old")) continue;
            if (IsRunning(pid)) continue;
            try
            {
                if (suffix == "old" && !Path.Exists(full)) Directory.Move(entry, full);
                else if (Directory.Exists(entry)) Directory.Delete(entry, recursive: true);
                else File.Delete(entry);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    static readonly System.Buffers.SearchValues<char> HexDigits = System.Buffers.SearchValues.Create("0123456789abcdef");

    static bool IsRunning(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    static bool TryExchange(string a, string b)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return RenameAt2(AtFdCwd, a, AtFdCwd, b, RenameExchange) == 0;
        }
        catch (EntryPointNotFoundException) { return false; }   // glibc before 2.28, musl
        catch (DllNotFoundException) { return false; }
    }

    const int AtFdCwd = -100;
    const uint RenameExchange = 2;

    [LibraryImport("libc", EntryPoint = "renameat2", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int RenameAt2(int oldDirFd, string oldPath, int newDirFd, string newPath, uint flags);

    static void TryDelete(string p)
    {
        try { File.Delete(p); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    public static void TryDeleteDirectory(string p)
    {
        try { Directory.Delete(p, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
