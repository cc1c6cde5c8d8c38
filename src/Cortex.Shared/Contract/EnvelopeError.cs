namespace Cortex.Shared.Contract;

/// <summary>Why an envelope was rejected: the field at fault (or "$" for the whole document) and a readable reason.</summary>
public sealed record EnvelopeError(string Field, string Message)
{
    public override string ToString() => Field == "$" ? Message : $"{Field}: {Message}";
}

/// <summary>The outcome of parsing an envelope: exactly one of <see cref="Envelope"/> and <see cref="Error"/> is set.</summary>
public readonly record struct EnvelopeParseResult(Envelope? Envelope, EnvelopeError? Error)
{
    public bool IsValid => Envelope is not null;
}
