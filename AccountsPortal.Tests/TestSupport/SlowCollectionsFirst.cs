using Xunit.Abstractions;
using Xunit.Sdk;

[assembly: Xunit.TestCollectionOrderer("AccountsPortal.Tests.TestSupport.SlowCollectionsFirst", "AccountsPortal.Tests")]

namespace AccountsPortal.Tests.TestSupport;

/// <summary>
/// Starts the test collections that take longest first, the rest in xunit's own order after them. A collection runs its
/// tests one after another, and xunit runs three tests at once (<c>xunit.runner.json</c>); with the default order the
/// browser collection (about 240 s of tests) started six and a half minutes into a 10.8-minute run and ran on alone at the
/// end. The order changes when tests run, never what they do.
/// </summary>
public sealed class SlowCollectionsFirst : ITestCollectionOrderer
{
    // Longest first, from a clean-clone run on the 2-core machine (seconds of test time in each).
    private static readonly string[] Slowest =
    [
        BrowserCollection.Name, // 237
        ShortConfirmationWindowBrowserCollection.Name, // 117
        "AccountsPortal.Tests.Api.CrashRecoveryTests", // 100-159
        "AccountsPortal.Tests.Api.KeyRingProtectionTests", // 62-67
        "AccountsPortal.Tests.Api.PostgresRaceTests", // 31-42
        "AccountsPortal.Tests.Components.VerifyPageTests", // 41-48
        "AccountsPortal.Tests.Api.DatabaseFailureTests", // 27-39
        "AccountsPortal.Tests.Api.PostgresFailureTests", // 25-35
        PasskeySignInBrowserCollection.Name, // 25-31
    ];

    /// <inheritdoc />
    public IEnumerable<ITestCollection> OrderTestCollections(IEnumerable<ITestCollection> testCollections)
    {
        return testCollections
            .Select((collection, index) => (collection, index, rank: RankOf(collection)))
            .OrderBy(c => c.rank)
            .ThenBy(c => c.index)
            .Select(c => c.collection);
    }

    private static int RankOf(ITestCollection collection)
    {
        // A named collection is shown by its name, a class's own as "Test collection for <class>".
        var rank = Array.FindIndex(Slowest, slow => collection.DisplayName == slow || collection.DisplayName == "Test collection for " + slow);
        return rank < 0 ? Slowest.Length : rank;
    }
}
