using Google.Protobuf;
using Onnx;

namespace OnnxInterp.Export;

/// <summary>ONNX element types we emit (values of TensorProto.DataType).</summary>
enum OnnxType
{
    Float = 1,
    UInt8 = 2,
    Int32 = 6,
    Int64 = 7,
    Bool = 9,
    Float16 = 10,
}

/// <summary>
/// A thin, append-only helper over the ONNX protobuf types: unique value names, nodes with attributes,
/// constants, inputs and outputs. It knows nothing about transformers.
/// </summary>
sealed class GraphBuilder
{
    readonly GraphProto _graph;
    readonly HashSet<string> _names = new(StringComparer.Ordinal);
    readonly string _prefix = "";
    int _counter;

    public GraphBuilder() => _graph = new GraphProto { Name = "main" };

    /// <summary>Appends to an existing graph; new value and node names start with <paramref name="prefix"/> and never collide.</summary>
    public GraphBuilder(GraphProto existing, string prefix)
    {
        _graph = existing;
        _prefix = prefix;
        foreach (var n in existing.Node)
        {
            _names.Add(n.Name);
            foreach (var o in n.Output) _names.Add(o);
        }
        foreach (var i in existing.Input) _names.Add(i.Name);
        foreach (var i in existing.Initializer) _names.Add(i.Name);
    }

    public GraphProto Graph => _graph;

    /// <summary>ONNX Runtime's contrib-op domain (MatMulNBits, GroupQueryAttention, RotaryEmbedding, SkipSimplifiedLayerNormalization).</summary>
    public const string MicrosoftDomain = "com.microsoft";

    /// <summary>A fresh value name with a readable stem.</summary>
    public string Fresh(string stem)
    {
        string name;
        do name = $"{_prefix}{stem}_{_counter++}";
        while (!_names.Add(name));
        return name;
    }

    /// <summary>Adds a node with one output and returns the output's name.</summary>
    public string Op(string opType, string[] inputs, string? output = null, string? domain = null, params (string Name, object Value)[] attributes) =>
        Ops(opType, inputs, [output ?? Fresh(opType.ToLowerInvariant())], domain, attributes)[0];

    /// <summary>Adds a node with several outputs.</summary>
    public string[] Ops(string opType, string[] inputs, string[] outputs, string? domain = null, params (string Name, object Value)[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = _prefix.Length == 0 ? $"{opType}_{_counter++}" : Fresh(opType) };
        if (domain is not null) node.Domain = domain;
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        foreach (var (name, value) in attributes) node.Attribute.Add(Attribute(name, value));
        _graph.Node.Add(node);
        return outputs;
    }

    static AttributeProto Attribute(string name, object value)
    {
        var a = new AttributeProto { Name = name };
        switch (value)
        {
            case long l: a.Type = AttributeProto.Types.AttributeType.Int; a.I = l; break;
            case int i: a.Type = AttributeProto.Types.AttributeType.Int; a.I = i; break;
            case float f: a.Type = AttributeProto.Types.AttributeType.Float; a.F = f; break;
            case string s: a.Type = AttributeProto.Types.AttributeType.String; a.S = ByteString.CopyFromUtf8(s); break;
            case long[] ls: a.Type = AttributeProto.Types.AttributeType.Ints; a.Ints.AddRange(ls); break;
            case TensorProto t: a.Type = AttributeProto.Types.AttributeType.Tensor; a.T = t; break;
            default: throw new ArgumentException($"attribute type {value.GetType()} not supported", nameof(value));
        }
        return a;
    }

    public string ConstInt64(params long[] values) => ConstInt64(values, [values.Length]);

    /// <summary>An int64 constant; with <paramref name="name"/>, an initializer of that name (the default of an input that shares it).</summary>
    public string ConstInt64(long[] values, long[] dims, string? name = null)
    {
        var t = new TensorProto { DataType = (int)OnnxType.Int64, Name = name ?? Fresh("const_i64") };
        t.Dims.AddRange(dims);
        t.Int64Data.AddRange(values);
        _graph.Initializer.Add(t);
        return t.Name;
    }

    public string ConstScalarInt64(long value) => ConstInt64([value], []);

    /// <summary>A scalar (or shaped) constant in the given float type.</summary>
    public string ConstFloat(float value, OnnxType type, long[]? dims = null) => ConstFloats([value], type, dims ?? []);

    public string ConstFloats(float[] values, OnnxType type, long[] dims, string? name = null)
    {
        var t = new TensorProto { DataType = (int)type, Name = name ?? Fresh("const_f") };
        t.Dims.AddRange(dims);
        if (type == OnnxType.Float)
        {
            t.FloatData.AddRange(values);
        }
        else
        {
            var bytes = new byte[values.Length * 2];
            for (int i = 0; i < values.Length; i++) BitConverter.TryWriteBytes(bytes.AsSpan(2 * i), (Half)values[i]);
            t.RawData = ByteString.CopyFrom(bytes);
        }
        _graph.Initializer.Add(t);
        return t.Name;
    }

    /// <summary>An initializer whose bytes live in the external data file.</summary>
    public void ExternalInitializer(string name, OnnxType type, long[] dims, string location, long offset, long length)
    {
        var t = new TensorProto { DataType = (int)type, Name = name, DataLocation = TensorProto.Types.DataLocation.External };
        t.Dims.AddRange(dims);
        t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        _graph.Initializer.Add(t);
    }

    /// <summary>Declares a graph input. Dimensions: a long is fixed, a string is symbolic, null is unknown.</summary>
    public void Input(string name, OnnxType type, params object?[] dims) => _graph.Input.Add(ValueInfo(name, type, dims));

    public void Output(string name, OnnxType type, params object?[] dims) => _graph.Output.Add(ValueInfo(name, type, dims));

    static ValueInfoProto ValueInfo(string name, OnnxType type, object?[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
        {
            var dim = new TensorShapeProto.Types.Dimension();
            switch (d)
            {
                case long l: dim.DimValue = l; break;
                case int i: dim.DimValue = i; break;
                case string s: dim.DimParam = s; break;
                case null: break;
                default: throw new ArgumentException($"dimension {d} must be a number, a name or null", nameof(dims));
            }
            shape.Dim.Add(dim);
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    /// <summary>Wraps the graph in a model with the opsets we use.</summary>
    public ModelProto ToModel(long opset, string producerVersion, IReadOnlyDictionary<string, string> metadata)
    {
        var model = new ModelProto
        {
            IrVersion = 10,
            ProducerName = "OnnxInterp",
            ProducerVersion = producerVersion,
            Graph = _graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        if (_graph.Node.Any(n => n.Domain == MicrosoftDomain))
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = MicrosoftDomain, Version = 1 });
        foreach (var (k, v) in metadata) model.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = v });
        return model;
    }
}
