using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Cortex.Shared.Contract;

namespace Cortex.Cli.Queue;

/// <summary>
/// The ids a file run has enqueued, to refuse one repeated with a different message: the sender sends an id once, so the
/// second would be acknowledged unsent, and its recipient would get nothing. An identical repeat is harmless and passes.
/// Ids and messages are kept as 64-bit hashes with the line they were on (some 40 bytes a message, for a file at its size
/// limit too); two different ids or messages sharing a hash are too unlikely, at 20 million messages, to matter.
/// </summary>
internal sealed class RepeatedIds
{
    private readonly Dictionary<long, (long Message, int Line)> _seen = [];

    /// <summary>Records <paramref name="envelope"/> as on <paramref name="line"/>; the error if its id came earlier with a different message.</summary>
    public string? Add(Envelope envelope, int line)
    {
        var id = Hash(Encoding.UTF8.GetBytes(envelope.Id));
        var message = Hash(EnvelopeCodec.Serialize(envelope));
        if (_seen.TryGetValue(id, out var first))
        {
            return first.Message == message
                ? null
                : $"id: '{EnvelopeFile.Shorten(envelope.Id)}' is already on line {first.Line.ToString(CultureInfo.InvariantCulture)} with a different message; only one would be sent (give each message its own id)";
        }

        _seen.Add(id, (message, line));
        return null;
    }

    private static long Hash(ReadOnlySpan<byte> bytes)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(bytes, digest);
        return BinaryPrimitives.ReadInt64LittleEndian(digest);
    }
}
