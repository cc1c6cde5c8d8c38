using Cortex.Scheduler.Templates;

namespace Cortex.Scheduler.Tests.Templates;

public class MessageRendererTests
{
    private static string? Vars(string name) => name switch
    {
        "name" => "Ana",
        "amount" => "R$ 10,00",
        _ => null,
    };

    [Fact]
    public void Render_KnownPlaceholders_AreReplaced()
    {
        Assert.Equal("Olá Ana, sua fatura de R$ 10,00.", MessageRenderer.Render("Olá {name}, sua fatura de {amount}.", Vars));
    }

    [Fact]
    public void Render_UnknownPlaceholder_StaysVisibleRatherThanBlank()
    {
        Assert.Equal("Olá Ana, {nmae}", MessageRenderer.Render("Olá {name}, {nmae}", Vars));
    }

    [Theory]
    [InlineData("sem variáveis", "sem variáveis")]
    [InlineData("{", "{")]
    [InlineData("a } b { c", "a } b { c")]
    [InlineData("{name}{name}", "AnaAna")]
    public void Render_EdgeCases_KeepTheText(string body, string expected)
    {
        Assert.Equal(expected, MessageRenderer.Render(body, Vars));
    }

    [Fact]
    public void Apply_TemplateNeedsAVariableTheRowLacks_RefusesNamingIt()
    {
        var renderer = new MessageRenderer(new TemplateDefinition("", "promo", "Oi {name}, até {until}!", null, null, []));

        var error = Assert.Throws<UnrenderableMessageException>(() => renderer.Apply(new Shared.Contract.Envelope { Id = "x", To = "+5511900000001" }, Vars));

        Assert.Equal("template 'promo' needs {until}, which this row does not have", error.Message);
    }

    [Fact]
    public void Apply_WhatsAppTemplate_ParametersInOrderAndAMissingOneIsRefused()
    {
        var renderer = new MessageRenderer(new TemplateDefinition("", "billing.due", "unused", "fatura", "pt_BR", ["amount", "name"]));
        var missing = new MessageRenderer(new TemplateDefinition("", "billing.due", "unused", "fatura", "pt_BR", ["name", "dueDate"]));
        var envelope = new Shared.Contract.Envelope { Id = "x", To = "+5511900000001" };

        var applied = renderer.Apply(envelope, Vars);

        Assert.Equal(("fatura", "pt_BR"), (applied.Template!.Name, applied.Template.Language));
        Assert.Equal(["R$ 10,00", "Ana"], applied.Template.Parameters);
        Assert.Null(applied.Text);
        Assert.Throws<UnrenderableMessageException>(() => missing.Apply(envelope, Vars));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    public void Apply_NoNameOrABlankOne_TheFallbackStandsInForText(string? name)
    {
        var renderer = new MessageRenderer(new TemplateDefinition("", "followup.text", "Olá {name|cliente}, ainda podemos ajudar?", null, null, []));

        var applied = renderer.Apply(new Shared.Contract.Envelope { Id = "x", To = "+5511900000001" }, v => v == "name" ? name : null);

        Assert.Equal("Olá cliente, ainda podemos ajudar?", applied.Text);
    }

    [Fact]
    public void Apply_ANameAndAFallback_TheNameIsUsed()
    {
        var renderer = new MessageRenderer(new TemplateDefinition("", "followup.template", "unused", "followup_reminder", "pt_BR", ["name|cliente", "amount"]));

        var applied = renderer.Apply(new Shared.Contract.Envelope { Id = "x", To = "+5511900000001" }, Vars);

        Assert.Equal(["Ana", "R$ 10,00"], applied.Template!.Parameters);
    }

    [Fact]
    public void Apply_WhatsAppParameterBlankWithoutAFallback_RefusedAsWhatsAppWouldRefuseIt()
    {
        // WhatsApp answers 400 to a template with an empty parameter: sent, it is a dead letter at best.
        var renderer = new MessageRenderer(new TemplateDefinition("", "followup.template", "unused", "followup_reminder", "pt_BR", ["name"]));
        var withFallback = new MessageRenderer(new TemplateDefinition("", "followup.template", "unused", "followup_reminder", "pt_BR", ["name|cliente"]));
        var envelope = new Shared.Contract.Envelope { Id = "x", To = "+5511900000001" };

        var error = Assert.Throws<UnrenderableMessageException>(() => renderer.Apply(envelope, _ => ""));

        Assert.Contains("needs {name} as a WhatsApp parameter, which this row has blank", error.Message, StringComparison.Ordinal);
        Assert.Equal(["cliente"], withFallback.Apply(envelope, _ => " ").Template!.Parameters);
    }

    [Fact]
    public void Apply_TextWithABlankValueAndNoFallback_RendersItBlank()
    {
        var renderer = new MessageRenderer(new TemplateDefinition("", "promo", "Oi {name}!", null, null, []));

        Assert.Equal("Oi !", renderer.Apply(new Shared.Contract.Envelope { Id = "x", To = "+5511900000001" }, _ => "").Text);
    }

    [Theory]
    [InlineData("0", "R$ 0,00")]
    [InlineData("0.5", "R$ 0,50")]
    [InlineData("99.9", "R$ 99,90")]
    [InlineData("1234.5", "R$ 1.234,50")]
    [InlineData("1234567.891", "R$ 1.234.567,89")]
    [InlineData("-12", "-R$ 12,00")]
    public void Currency_FormatsReaisTheBrazilianWay(string amount, string expected)
    {
        Assert.Equal(expected, PtBr.Currency(decimal.Parse(amount, System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Fact]
    public void Date_IsDayMonthYear()
    {
        Assert.Equal("05/03/2026", PtBr.Date(new DateOnly(2026, 3, 5)));
    }
}
