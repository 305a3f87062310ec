using System.CommandLine;
using OnnxInterp.Comparison;
using static OnnxInterp.Tests.Deploy.KubernetesManifests;

namespace OnnxInterp.Tests.Deploy;

/// <summary>
/// deploy/k8s as far as a machine without a cluster can check it: every manifest parses, the sweep is an Indexed Job
/// whose index becomes the shard (`--shards` = completions, --out per index), the merge Job reads the shards' folder, the
/// volumes and the config map they name exist, and the containers' args are valid `onnxinterp` command lines.
/// </summary>
public class KubernetesManifestTests
{
    const string SweepJob = "sweep-job.yaml", MergeJob = "merge-job.yaml", Storage = "storage.yaml", SweepConfig = "sweep-config.yaml";

    static IReadOnlyList<string> Args(string file) => Strings(Single(file), "spec.template.spec.containers.0.args");

    /// <summary>A container's args parse as an onnxinterp command line (unknown verbs or options are errors).</summary>
    static void AssertParses(IReadOnlyList<string> args)
    {
        var root = OnnxInterp.Cli.Cli.Build(TextWriter.Null, TextWriter.Null);
        var parse = root.Parse(args.ToArray());
        Assert.That(parse.Errors.Select(e => e.Message), Is.Empty, string.Join(" ", args));
    }

    [Test]
    public void Manifests_EveryFile_ParsesAsKubernetesObjects()
    {
        Assert.That(Files.Select(Path.GetFileName), Is.SupersetOf(new[] { SweepJob, MergeJob, Storage, SweepConfig }));
        foreach (var file in Files)
            foreach (var doc in Documents(Path.GetFileName(file)))
            {
                Assert.That(Text(doc, "apiVersion"), Is.Not.Empty, file);
                Assert.That(Text(doc, "kind"), Is.Not.Empty, file);
                Assert.That(Text(doc, "metadata.name"), Does.Match("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), file);
            }
    }

    [Test]
    public void SweepJob_IndexedJob_MapsTheIndexToTheShard()
    {
        var job = Single(SweepJob);
        Assert.That((Text(job, "apiVersion"), Text(job, "kind")), Is.EqualTo(("batch/v1", "Job")));
        Assert.That(Text(job, "spec.completionMode"), Is.EqualTo("Indexed"));
        int completions = int.Parse(Text(job, "spec.completions")!);
        int parallelism = int.Parse(Text(job, "spec.parallelism")!);
        Assert.That(completions, Is.GreaterThan(1));
        Assert.That(parallelism, Is.InRange(1, completions));
        Assert.That(Text(job, "spec.template.spec.restartPolicy"), Is.EqualTo("Never"), "backoffLimitPerIndex needs Never");
        Assert.That(int.Parse(Text(job, "spec.backoffLimitPerIndex")!), Is.GreaterThan(0), "a failed pod is replaced with its index");

        var container = At(job, "spec.template.spec.containers.0")!;
        Assert.That(Text(container, "image"), Is.Not.Empty);
        var args = Args(SweepJob);
        Assert.That(args[0], Is.EqualTo("sweep"));
        Assert.That(ArgAfter(args, "--shards"), Is.EqualTo(completions.ToString()), "--shards is the Job's completions");
        Assert.That(args, Has.None.EqualTo("--shard"));
        Assert.That(ArgAfter(args, "--out"), Does.EndWith("/$(JOB_COMPLETION_INDEX)"), "a folder per index");
        var index = Items(container, "env").Single(e => Text(e, "name") == ShardSpec.IndexVariable);
        Assert.That(Text(index, "valueFrom.fieldRef.fieldPath"), Is.EqualTo("metadata.annotations['batch.kubernetes.io/job-completion-index']"));
        AssertParses(args.Select(a => a.Replace("$(JOB_COMPLETION_INDEX)", "0")).ToList());

        // The config file the args name is the config map's key, mounted where the args read it, and a valid config.
        var mounts = Items(container, "volumeMounts").ToDictionary(m => Text(m, "name")!, m => Text(m, "mountPath")!);
        var volumes = Items(job, "spec.template.spec.volumes").ToDictionary(v => Text(v, "name")!);
        Assert.That(volumes.Keys, Is.SupersetOf(mounts.Keys), "every mount has its volume");
        Assert.That(Text(volumes["data"], "persistentVolumeClaim.claimName"), Is.EqualTo(Text(Single(Storage), "metadata.name")));
        Assert.That(Strings(Single(Storage), "spec.accessModes"), Does.Contain("ReadWriteMany"), "pods on several nodes share it");
        var map = Single(SweepConfig);
        Assert.That(Text(volumes["config"], "configMap.name"), Is.EqualTo(Text(map, "metadata.name")));
        var configPath = ArgAfter(args, "--config")!;
        Assert.That(Path.GetDirectoryName(configPath), Is.EqualTo(mounts["config"]));
        var json = ((YamlDotNet.RepresentationModel.YamlScalarNode)((YamlDotNet.RepresentationModel.YamlMappingNode)At(map, "data")!)[Path.GetFileName(configPath)]).Value!;
        using var tmp = new Support.TempDir();
        File.WriteAllText(tmp.Sub("sweep.json"), json);
        Assert.DoesNotThrow(() => ComparisonConfig.Load(tmp.Sub("sweep.json")));
        foreach (var path in new[] { ArgAfter(args, "--base")!.Split('=')[^1], ArgAfter(args, "--post")!, ArgAfter(args, "--out")! })
            Assert.That(path, Does.StartWith(mounts["data"] + "/"), "on the shared volume");
        Assert.That(Text(Items(container, "env").Single(e => Text(e, "name") == ModelResolver.CacheVariable), "value"), Does.StartWith(mounts["data"] + "/"),
            "the export cache is shared: each checkpoint exported once");
    }

    [Test]
    public void MergeJob_ReadsTheShardsFolderOfTheSweepJob()
    {
        var job = Single(MergeJob);
        Assert.That((Text(job, "apiVersion"), Text(job, "kind")), Is.EqualTo(("batch/v1", "Job")));
        Assert.That(Text(job, "spec.template.spec.restartPolicy"), Is.EqualTo("Never"));
        var args = Args(MergeJob);
        Assert.That(args[0], Is.EqualTo("merge"));
        var shardsFolder = ArgAfter(Args(SweepJob), "--out")!.Replace("/$(JOB_COMPLETION_INDEX)", "");
        Assert.That(args[1], Is.EqualTo(shardsFolder));
        Assert.That(ArgAfter(args, "--out"), Is.Not.EqualTo(shardsFolder).And.Not.StartWith(shardsFolder + "/"));
        AssertParses(args);
        Assert.That(Text(job, "spec.template.spec.volumes.0.persistentVolumeClaim.claimName"), Is.EqualTo(Text(Single(Storage), "metadata.name")));
        Assert.That(Text(job, "spec.template.spec.containers.0.image"), Is.EqualTo(Text(Single(SweepJob), "spec.template.spec.containers.0.image")));
    }

    [Test]
    public void Image_IsTheOneTheReadmeBuilds()
    {
        var image = Text(Single(SweepJob), "spec.template.spec.containers.0.image")!;
        var readme = File.ReadAllText(Path.Combine(Support.ShippedFamily.RepositoryRoot, "README.md"));
        Assert.That(readme, Does.Contain($"-t {image} "));
        Assert.That(readme, Does.Contain("deploy/k8s/sweep-job.yaml").And.Contain("deploy/k8s/merge-job.yaml"));
    }
}
