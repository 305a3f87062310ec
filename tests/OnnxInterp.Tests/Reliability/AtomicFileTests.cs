using OnnxInterp.Internals;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Reliability;

public class AtomicFileTests
{
    /// <summary>A process id no process has: above Linux's pid_max limit (2^22).</summary>
    const int DeadPid = 5_000_000;

    static string Sibling(string target, int pid, string suffix) =>
        Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.{pid}-{Guid.NewGuid():N}.{suffix}");

    [Test]
    public void CleanStale_DeadWritersSiblings_Removed_LiveAndForeignKept()
    {
        using var tmp = new TempDir();
        var target = tmp.Sub("report.json");
        File.WriteAllText(target, "old");
        var deadTmp = Sibling(target, DeadPid, "tmp");
        var deadPartial = Sibling(target, DeadPid, "partial");
        var live = Sibling(target, Environment.ProcessId, "tmp");
        File.WriteAllText(deadTmp, "half");
        Directory.CreateDirectory(deadPartial);
        File.WriteAllText(live, "being written");
        string[] foreign = [tmp.Sub(".report.json.notes"), tmp.Sub($".report.json.{DeadPid}-xyz.tmp"), tmp.Sub($".other.json.{DeadPid}-{Guid.NewGuid():N}.tmp")];
        foreach (var f in foreign) File.WriteAllText(f, "not ours");

        AtomicFile.WriteAllText(target, "new");

        Assert.That(File.ReadAllText(target), Is.EqualTo("new"));
        Assert.That(File.Exists(deadTmp) || Directory.Exists(deadPartial), Is.False, "a dead writer's leftovers are removed");
        Assert.That(File.Exists(live), "a running writer's temporary file is left alone");
        Assert.That(foreign.All(File.Exists), "names that are not our staging pattern are left alone");
    }

    [Test]
    public void CleanStale_WriterDiedBetweenItsRenames_PreviousFolderMovedBack()
    {
        using var tmp = new TempDir();
        var target = tmp.Sub("export");
        var old = Sibling(target, DeadPid, "old");
        Directory.CreateDirectory(old);
        File.WriteAllText(Path.Combine(old, "model.onnx"), "previous");

        AtomicFile.CleanStale(target);

        Assert.That(File.ReadAllText(Path.Combine(target, "model.onnx")), Is.EqualTo("previous"));
        Assert.That(Directory.Exists(old), Is.False);
    }

    [Test]
    public void WriteDirectory_Existing_ReplacedWholeAndNoSiblingsLeft()
    {
        using var tmp = new TempDir();
        var target = tmp.Sub("out");
        AtomicFile.WriteDirectory(target, d => { File.WriteAllText(Path.Combine(d, "a"), "1"); File.WriteAllText(Path.Combine(d, "b"), "1"); });
        AtomicFile.WriteDirectory(target, d => File.WriteAllText(Path.Combine(d, "a"), "2"));
        Assert.That(Directory.GetFiles(target).Select(Path.GetFileName), Is.EqualTo(new[] { "a" }));
        Assert.That(File.ReadAllText(Path.Combine(target, "a")), Is.EqualTo("2"));
        Assert.That(Directory.GetFileSystemEntries(tmp.Path), Is.EqualTo(new[] { target }));

        Assert.Throws<InvalidOperationException>(() => AtomicFile.WriteDirectory(target, _ => throw new InvalidOperationException()));
        Assert.That(File.ReadAllText(Path.Combine(target, "a")), Is.EqualTo("2"), "a failed build leaves the folder as it was");
        Assert.That(Directory.GetFileSystemEntries(tmp.Path), Is.EqualTo(new[] { target }));
    }
}
