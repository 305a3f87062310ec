using System.Text.Json;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Runtime;

public class HookNameTests
{
    static readonly (string Text, HookKind Kind, int Layer)[] Names =
    [
        ("blocks.0.hook_resid_pre", HookKind.ResidPre, 0),
        ("blocks.7.hook_resid_mid", HookKind.ResidMid, 7),
        ("blocks.12.hook_resid_post", HookKind.ResidPost, 12),
        ("blocks.31.mlp.hook_post", HookKind.MlpPost, 31),
    ];

    [Test]
    public void Parse_TransformerLensText_KindLayerAndTheSameTextBack()
    {
        foreach (var (text, kind, layer) in Names)
        {
            var name = HookName.Parse(text);
            Assert.That((name.Kind, name.Layer), Is.EqualTo((kind, layer)), text);
            Assert.That(name.ToString(), Is.EqualTo(text));
            Assert.That(name, Is.EqualTo(new HookName(kind, layer)));
            HookName implicitly = text;
            Assert.That(implicitly, Is.EqualTo(name));
        }
    }

    [TestCase("blocks.1.hook_resid")]
    [TestCase("blocks.01.hook_resid_post")]
    [TestCase("blocks.+1.hook_resid_post")]
    [TestCase("blocks.-1.hook_resid_post")]
    [TestCase("blocks..hook_resid_post")]
    [TestCase("blocks.1.attn.hook_z")]
    [TestCase("blocks.*.hook_resid_post")]
    [TestCase("Blocks.1.hook_resid_post")]
    [TestCase("")]
    public void Parse_NotAHookName_TypedErrorNamingTheText(string text)
    {
        Assert.That(HookName.TryParse(text, out _), Is.False);
        var e = Assert.Throws<InvalidArgumentException>(() => HookName.Parse(text))!;
        Assert.That(e.Value, Is.EqualTo(text));
        Assert.That(e.Field, Is.EqualTo("hook"));
    }

    [Test]
    public void CompareTo_OrdersAsTheGraphComputes()
    {
        var shuffled = new HookName[]
        {
            HookName.ResidPost(1), HookName.MlpPost(0), HookName.ResidPre(1), HookName.ResidMid(0), HookName.ResidPost(0), HookName.ResidPre(0),
        };
        Assert.That(shuffled.Order().Select(h => h.ToString()), Is.EqualTo(new[]
        {
            "blocks.0.hook_resid_pre", "blocks.0.hook_resid_mid", "blocks.0.mlp.hook_post", "blocks.0.hook_resid_post", "blocks.1.hook_resid_pre", "blocks.1.hook_resid_post",
        }));
    }

    [Test]
    public void Json_WritesTheTextAndReadsItBack_AsValueAndAsKey()
    {
        var map = new Dictionary<HookName, int> { [HookName.MlpPost(2)] = 5 };
        var json = JsonSerializer.Serialize(new { Hook = HookName.ResidMid(3), Map = map });
        Assert.That(json, Is.EqualTo("""{"Hook":"blocks.3.hook_resid_mid","Map":{"blocks.2.mlp.hook_post":5}}"""));
        Assert.That(JsonSerializer.Deserialize<HookName>("\"blocks.3.hook_resid_mid\""), Is.EqualTo(HookName.ResidMid(3)));
        Assert.That(JsonSerializer.Deserialize<Dictionary<HookName, int>>("""{"blocks.2.mlp.hook_post":5}""")![HookName.MlpPost(2)], Is.EqualTo(5));
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<HookName>("\"blocks.3.hook_resid\""));
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<HookName>("3"));
    }

    [Test]
    public void HookPattern_GlobsAndExactNames()
    {
        HookPattern all = "blocks.*.hook_resid_*", one = HookName.MlpPost(1);
        Assert.That(all.Matches(HookName.ResidMid(4)), Is.True);
        Assert.That(all.Matches(HookName.MlpPost(4)), Is.False);
        Assert.That(one.Matches(HookName.MlpPost(1)), Is.True);
        Assert.That(one.Matches(HookName.MlpPost(11)), Is.False);
        Assert.That(new HookPattern("blocks.?.mlp.hook_post").Matches(HookName.MlpPost(11)), Is.False);
    }

    [Test]
    public void InterventionFile_EntryWithoutHookOrWithABadOne_InvalidFileNamingTheEntry()
    {
        using var tmp = new TempDir();
        var missing = tmp.Sub("missing.json");
        File.WriteAllText(missing, """[{"Op": "Scale", "Factor": 0.5}]""");
        var e = Assert.Throws<InvalidFileException>(() => Intervention.ReadFile(missing))!;
        Assert.That(e.File, Is.EqualTo(missing));

        var bad = tmp.Sub("bad.json");
        File.WriteAllText(bad, """[{"Hook": "blocks.1.hook_resid_post", "Op": "Scale"}, {"Hook": "blocks.1.resid", "Op": "Scale"}]""");
        e = Assert.Throws<InvalidFileException>(() => Intervention.ReadFile(bad))!;
        Assert.That(e.Field, Does.Contain("[1].Hook"));

        var good = tmp.Sub("good.json");
        File.WriteAllText(good, """[{"Hook": "blocks.1.mlp.hook_post", "Op": "Scale", "Factor": 0.5}]""");
        Assert.That(Intervention.ReadFile(good).Single().Hook, Is.EqualTo(HookName.MlpPost(1)));
    }
}
