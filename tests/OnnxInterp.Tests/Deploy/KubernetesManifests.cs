using YamlDotNet.RepresentationModel;

namespace OnnxInterp.Tests.Deploy;

/// <summary>deploy/k8s's manifests read with YamlDotNet, and paths into them ("spec.template.spec.containers.0.args").</summary>
static class KubernetesManifests
{
    public static string Folder => Path.Combine(Support.ShippedFamily.RepositoryRoot, "deploy", "k8s");

    public static IReadOnlyList<string> Files => Directory.GetFiles(Folder, "*.yaml").Order(StringComparer.Ordinal).ToList();

    /// <summary>Every document of a manifest file.</summary>
    public static IReadOnlyList<YamlMappingNode> Documents(string file)
    {
        var stream = new YamlStream();
        using var reader = new StringReader(File.ReadAllText(Path.Combine(Folder, file)));
        stream.Load(reader);
        return stream.Documents.Select(d => (YamlMappingNode)d.RootNode).ToList();
    }

    public static YamlMappingNode Single(string file) => Documents(file).Single();

    /// <summary>The node at a dotted path (mapping keys, sequence indexes), or null.</summary>
    public static YamlNode? At(YamlNode node, string path)
    {
        YamlNode? cursor = node;
        foreach (var key in path.Split('.'))
        {
            cursor = cursor switch
            {
                YamlMappingNode m => m.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null,
                YamlSequenceNode s when int.TryParse(key, out int i) && i < s.Children.Count => s.Children[i],
                _ => null,
            };
            if (cursor is null) return null;
        }
        return cursor;
    }

    public static string? Text(YamlNode node, string path) => (At(node, path) as YamlScalarNode)?.Value;

    public static IReadOnlyList<YamlNode> Items(YamlNode node, string path) => (At(node, path) as YamlSequenceNode)?.Children.ToList() ?? [];

    public static IReadOnlyList<string> Strings(YamlNode node, string path) => Items(node, path).Select(n => ((YamlScalarNode)n).Value!).ToList();

    /// <summary>The value after <paramref name="option"/> in a container's args.</summary>
    public static string? ArgAfter(IReadOnlyList<string> args, string option) =>
        args.Select((a, i) => (a, i)).Where(p => p.a == option && p.i + 1 < args.Count).Select(p => args[p.i + 1]).FirstOrDefault();
}
