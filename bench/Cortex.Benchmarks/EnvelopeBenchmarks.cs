using BenchmarkDotNet.Attributes;
using Cortex.Shared.Contract;

namespace Cortex.Benchmarks;

/// <summary>Admission's per-message work: parse and validate the UTF-8 envelope (EnvelopeCodec.Parse), and the write a retry does (Serialize).</summary>
[MemoryDiagnoser]
[ExceptionDiagnoser]
public class EnvelopeBenchmarks
{
    private readonly byte[] _text = EnvelopeCodec.Serialize(Samples.Text("billing:4711:D-3:2026-11-25"));
    private readonly byte[] _template = EnvelopeCodec.Serialize(Samples.Template("campaign:91:1764400000000:5512"));
    private readonly byte[] _malformed = Samples.Malformed();
    private readonly byte[] _invalid = Samples.Invalid();
    private readonly byte[] _wrongType = Samples.WrongType();
    private readonly byte[] _duplicate = Samples.Duplicate();
    private readonly byte[] _syntaxError = Samples.SyntaxError();
    private readonly Envelope _textEnvelope = Samples.Text("billing:4711:D-3:2026-11-25");
    private readonly Envelope _templateEnvelope = Samples.Template("campaign:91:1764400000000:5512");

    [Benchmark]
    public EnvelopeParseResult ParseText() => EnvelopeCodec.Parse(_text);

    [Benchmark]
    public EnvelopeParseResult ParseTemplate() => EnvelopeCodec.Parse(_template);

    /// <summary>Cut-off JSON: the reader runs out of data, which Parse reports as a truncated document.</summary>
    [Benchmark]
    public EnvelopeParseResult ParseMalformed() => EnvelopeCodec.Parse(_malformed);

    /// <summary>Well-formed JSON with a bad recipient: rejected by validation, no exception.</summary>
    [Benchmark]
    public EnvelopeParseResult ParseInvalid() => EnvelopeCodec.Parse(_invalid);

    /// <summary>A version sent as a string: a wrong type, rejected while reading.</summary>
    [Benchmark]
    public EnvelopeParseResult ParseWrongType() => EnvelopeCodec.Parse(_wrongType);

    /// <summary>A member that appears twice.</summary>
    [Benchmark]
    public EnvelopeParseResult ParseDuplicate() => EnvelopeCodec.Parse(_duplicate);

    /// <summary>A raw control character inside a string: a JSON syntax error, the one kind the reader still throws for.</summary>
    [Benchmark]
    public EnvelopeParseResult ParseSyntaxError() => EnvelopeCodec.Parse(_syntaxError);

    [Benchmark]
    public byte[] SerializeText() => EnvelopeCodec.Serialize(_textEnvelope);

    [Benchmark]
    public byte[] SerializeTemplate() => EnvelopeCodec.Serialize(_templateEnvelope);
}
