namespace OnnxInterp.Internals;

/// <summary>Path checks for names that come from files we did not write.</summary>
static class SafePath
{
    const int MaxLinks = 40; // Linux's own limit on links followed in one lookup

    /// <summary>
    /// The absolute path with every symbolic link in every component resolved (like realpath(3)); components that do
    /// not exist are kept as they are. A loop of links, or more than 40 of them, is an <see cref="InvalidFileException"/>.
    /// </summary>
    public static string Resolve(string path)
    {
        var full = Path.GetFullPath(path);
        var root = Path.GetPathRoot(full)!;
        var pending = new Stack<string>(Split(full[root.Length..]).Reverse());
        string current = root;
        int links = 0;
        while (pending.Count > 0)
        {
            string part = pending.Pop();
            if (part == ".") continue;
            if (part == "..") { current = Path.GetDirectoryName(current) ?? root; continue; }
            string next = Path.Combine(current, part);
            string? target = null;
            try { target = new FileInfo(next).LinkTarget; }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            if (target is null) { current = next; continue; }
            if (++links > MaxLinks) Throw.InvalidFile("too many levels of symbolic links", path, "path", next);
            if (Path.IsPathRooted(target))
            {
                var targetRoot = Path.GetPathRoot(target)!;
                current = targetRoot;
                target = target[targetRoot.Length..];
            }
            foreach (var t in Split(target).Reverse()) pending.Push(t);
        }
        return current;
    }

    /// <summary>True when <paramref name="path"/> is <paramref name="folder"/> itself or lies below it (both resolved).</summary>
    public static bool IsInside(string path, string folder)
    {
        var f = folder.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar);
        var cmp = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        return path.Length > f.Length && path.StartsWith(f, cmp) && (path[f.Length] == Path.DirectorySeparatorChar || path[f.Length] == Path.AltDirectorySeparatorChar);
    }

    static string[] Split(string p) => p.Split([Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar], StringSplitOptions.RemoveEmptyEntries);
}
