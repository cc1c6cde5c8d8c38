using Npgsql;

namespace Cortex.Scheduler.Templates;

/// <summary>One row of cortex.message_templates.</summary>
public sealed record TemplateDefinition(string Tenant, string Key, string Body, string? WhatsAppName, string? WhatsAppLanguage, IReadOnlyList<string> WhatsAppParameters);

/// <summary>The message templates, loaded once per job run (the table is small), with tenant-specific rows winning over the default ('').</summary>
public sealed class TemplateCatalog
{
    private readonly Dictionary<(string Tenant, string Key), MessageRenderer> _templates;

    private TemplateCatalog(Dictionary<(string, string), MessageRenderer> templates) => _templates = templates;

    /// <summary>Reads every template from the database.</summary>
    public static async Task<TemplateCatalog> LoadAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        await using var command = dataSource.CreateCommand(
            "SELECT tenant, key, body, wa_name, wa_language, wa_parameters FROM cortex.message_templates");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var templates = new Dictionary<(string, string), MessageRenderer>();
        while (await reader.ReadAsync(cancellationToken))
        {
            var definition = new TemplateDefinition(
                reader.GetString(0),
                reader.GetString(1),
                reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.GetFieldValue<string[]>(5));
            templates[(definition.Tenant, definition.Key)] = new MessageRenderer(definition);
        }

        return new TemplateCatalog(templates);
    }

    /// <summary>The template for <paramref name="key"/> of <paramref name="tenant"/>, else the default one.</summary>
    public MessageRenderer Get(string tenant, string key) =>
        _templates.TryGetValue((tenant, key), out var specific) ? specific
        : _templates.TryGetValue((string.Empty, key), out var fallback) ? fallback
        : throw new MissingTemplateException(key, tenant);
}

/// <summary>A job needs a template that cortex.message_templates does not have.</summary>
public sealed class MissingTemplateException(string key, string tenant)
    : TemplateException($"cortex.message_templates has no row for key '{key}' for {Whose(tenant)}")
{
    // The default tenant is the empty name: quoted, it read "(tenant '' or the default tenant '')". Worded as the CLI's
    // warning for the same missing row is.
    private static string Whose(string tenant) => tenant.Length == 0 ? "the default tenant" : $"tenant '{tenant}' nor for the default tenant";
}
