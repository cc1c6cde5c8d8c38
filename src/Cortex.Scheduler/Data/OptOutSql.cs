namespace Cortex.Scheduler.Data;

/// <summary>The one definition of "this phone opted out", shared by every job's query.</summary>
internal static class OptOutSql
{
    /// <summary>
    /// An EXISTS over cortex.opt_outs for the given SQL expressions: an opt-out for every tenant ('') or this one. The '+' is
    /// added when missing, so a phone without it from a view still matches; the lookup stays an opt_outs_pkey probe.
    /// </summary>
    public static string Exists(string phone, string tenant) =>
        $"EXISTS (SELECT 1 FROM cortex.opt_outs o WHERE o.phone = '+' || ltrim({phone}, '+') AND o.tenant IN ('', {tenant}))";
}
