namespace Cortex.Shared.Contract;

/// <summary>A pre-approved WhatsApp template: required outside the 24-hour customer-service window.</summary>
public sealed record MessageTemplate(string Name, string Language, IReadOnlyList<string> Parameters);
