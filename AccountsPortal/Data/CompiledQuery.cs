using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore.Metadata;

namespace AccountsPortal.Data;

/// <summary>
/// A query EF Core translates once per model instead of once per call: the hot reads of the passkey step (each call
/// of a LINQ query walks its expression tree for parameters, looks the translation up in the query cache by a
/// structural hash, and builds closures; measured at about a tenth of the portal's CPU under load).
/// </summary>
/// <remarks>
/// EF Core binds a compiled query to the first model it runs against and throws for any other
/// (<c>CompiledQueryDifferentModel</c>). A process may hold two models, one per provider (SQLite and PostgreSQL
/// contexts; the tests run both in one process), so each model gets its own compiled query, made on its first use
/// and dropped with the model.
/// </remarks>
/// <typeparam name="TQuery">The delegate <c>EF.CompileAsyncQuery</c> returns.</typeparam>
/// <param name="compile">Makes a fresh compiled query; called once per model.</param>
public sealed class CompiledQuery<TQuery>(Func<TQuery> compile)
    where TQuery : class
{
    private readonly ConditionalWeakTable<IModel, TQuery> byModel = [];

    // Made once: a lambda at the call would be a new delegate on every call of the hot path.
    private readonly ConditionalWeakTable<IModel, TQuery>.CreateValueCallback create = _ => compile();

    /// <summary>
    /// The compiled query for <paramref name="db"/>'s model. Safe for concurrent use; two first calls at once for one
    /// model may both compile, and one result is kept.
    /// </summary>
    public TQuery For(PortalDbContext db)
    {
        ArgumentNullException.ThrowIfNull(db);
        return byModel.GetValue(db.Model, create);
    }
}
