namespace OnnxInterp;

/// <summary>An <see cref="IProgress{T}"/> that calls back on the reporting thread, in order (Progress&lt;T&gt; posts to the thread pool).</summary>
public sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
