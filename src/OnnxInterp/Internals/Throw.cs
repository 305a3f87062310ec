using System.Diagnostics.CodeAnalysis;

namespace OnnxInterp.Internals;

/// <summary>The one place that builds typed errors, so messages stay uniform.</summary>
static class Throw
{
    [DoesNotReturn]
    public static void InvalidFile(string message, string? file, string? field = null, object? value = null, Exception? inner = null) =>
        throw new InvalidFileException(message, file, field, value?.ToString(), inner);

    [DoesNotReturn]
    public static T InvalidFile<T>(string message, string? file, string? field = null, object? value = null, Exception? inner = null) =>
        throw new InvalidFileException(message, file, field, value?.ToString(), inner);

    [DoesNotReturn]
    public static void Mismatch(string message, string? file, string? field = null, object? value = null) =>
        throw new ModelMismatchException(message, file, field, value?.ToString());

    [DoesNotReturn]
    public static void Unsupported(string message, string? file, string? field = null, object? value = null) =>
        throw new UnsupportedModelException(message, file, field, value?.ToString());

    [DoesNotReturn]
    public static void Argument(string message, string field, object? value) =>
        throw new InvalidArgumentException(message, field, value?.ToString());

    [DoesNotReturn]
    public static void Shard(string message, int? shard, string? file, string? field = null, object? value = null) =>
        throw new ShardMismatchException(message, shard, file, field, value?.ToString());
}
