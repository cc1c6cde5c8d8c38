using System.Globalization;

namespace Cortex.Shared.Contract;

/// <summary>Size and format limits of the public envelope; anything beyond them is dead-lettered with a reason.</summary>
public static class EnvelopeLimits
{
    public const int MaxEnvelopeBytes = 64 * 1024;
    public const int MaxIdLength = 200;
    public const int MaxTextLength = 4096;
    public const int MaxTemplateNameLength = 512;
    public const int MaxTemplateParameters = 32;
    public const int MaxTemplateParameterLength = 1024;
    public const int MaxKindLength = 64;
    public const int MaxTenantLength = 64;
    public const int MaxTraceIdLength = 128;
    public const int MaxQuietHoursLength = 80;
    public const int MaxAttributes = 16;
    public const int MaxAttributeKeyLength = 64;
    public const int MaxAttributeValueLength = 512;
    public const int MaxJsonDepth = 8;
    public const int MinPhoneDigits = 8;
    public const int MaxPhoneDigits = 15;

    /// <summary>Why a payload over <see cref="MaxEnvelopeBytes"/> is refused; the lease script writes the same words in Redis.</summary>
    public static string OversizedDetail(long bytes) =>
        string.Create(CultureInfo.InvariantCulture, $"envelope is {bytes} bytes, over the {MaxEnvelopeBytes}-byte limit");
}
