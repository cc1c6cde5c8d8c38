using Cortex.Cli.Tests.Infrastructure;
using Cortex.Shared.Contract;
using Cortex.Shared.Queue;

namespace Cortex.Cli.Tests.DeadLetters;

/// <summary>The Redis side of requeue and purge (Cortex.Shared/Queue/DeadLetterAdmin), without the CLI around it.</summary>
[Collection(QueueCollection.Name)]
public sealed class DeadLetterAdminTests(CliFixture fixture)
{
    [Fact]
    public async Task RequeueAsync_EntryGoneMeanwhile_PushesNothingForIt()
    {
        var cli = fixture.Queue(Queues.Clock());
        var kept = await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.Expired, Queues.Payload("a"), cli.Time.GetUtcNow(), "a");
        await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.Expired, Queues.Payload("b"), cli.Time.GetUtcNow(), "b");
        var admin = new DeadLetterAdmin(fixture.Connection, cli.Keys);
        var records = await admin.FindOldestFirstAsync(_ => true);

        // Another operator purges "a" between our read and our requeue.
        await fixture.Connection.GetDatabase().ListRemoveAsync(cli.Keys.Dead, kept);
        var moved = await admin.RequeueAsync(records);

        Assert.Equal([false, true], moved);
        Assert.Equal(["b"], (await fixture.Connection.ReadyAsync(cli.Keys, Priority.Normal)).Select(m => m.Id));
        Assert.Equal(0, await admin.CountAsync());
    }

    [Fact]
    public async Task RequeueAsync_AReadyListOfTheWrongType_KeepsEveryEntryAndNamesTheKey()
    {
        // The push follows the removal from the dead-letter list: a ready list written with SET refused the push, and the
        // entry removed before it was gone.
        var cli = fixture.Queue(Queues.Clock());
        var db = fixture.Connection.GetDatabase();
        await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.Expired, Queues.Payload("n"), cli.Time.GetUtcNow(), "n");
        await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.Expired, Queues.Payload("l", priority: Priority.Low), cli.Time.GetUtcNow(), "l");
        await db.StringSetAsync(cli.Keys.ReadyLow, "set by mistake");
        var admin = new DeadLetterAdmin(fixture.Connection, cli.Keys);
        var records = await admin.FindOldestFirstAsync(_ => true);

        var error = await Assert.ThrowsAsync<StackExchange.Redis.RedisServerException>(() => admin.RequeueAsync(records));

        Assert.StartsWith($"WRONGTYPE {cli.Keys.ReadyLow} is a string, not a list", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, await admin.CountAsync());
        await db.KeyRenameAsync(cli.Keys.ReadyLow, $"{cli.Keys.ReadyLow}:aside");
        var moved = await admin.RequeueAsync(records);
        Assert.Equal([true, true], moved);
        Assert.Equal(["l"], (await fixture.Connection.ReadyAsync(cli.Keys, Priority.Low)).Select(m => m.Id));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ActOldestFirstAsync_MatchesSpreadOverManyPages_ActsOnEachOnceOldestFirstAndLeavesTheRest(bool requeue)
    {
        // Three entries a page: the act removes matches from inside each page, and the next page must start right after
        // what the last one kept, neither skipping an entry nor reading one twice. What is unreadable or does not match stays.
        var cli = fixture.Queue(Queues.Clock());
        for (var i = 1; i <= 20; i++)
        {
            var reason = i % 3 == 0 ? DeadLetterReasons.Poison : DeadLetterReasons.Expired;
            await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, reason, Queues.Payload("m" + i), cli.Time.GetUtcNow(), "m" + i);
        }

        await fixture.Connection.GetDatabase().ListLeftPushAsync(cli.Keys.Dead, "not a dead-letter entry");
        var admin = new DeadLetterAdmin(fixture.Connection, cli.Keys);
        var expired = Enumerable.Range(1, 20).Where(i => i % 3 != 0).Select(i => "m" + i).ToList();

        var (matched, done) = await admin.ActOldestFirstAsync(
            r => r.Entry?.Reason is null or DeadLetterReasons.Expired, requeue ? admin.RequeueAsync : admin.PurgeAsync, pageSize: 3);

        // The unreadable entry matches too: purged, but not requeued (it has no payload).
        Assert.Equal((expired.Count + 1, expired.Count + (requeue ? 0 : 1)), (matched, done));
        Assert.Equal(requeue ? expired : [], (await fixture.Connection.ReadyAsync(cli.Keys, Priority.Normal)).Select(m => m.Id));
        var left = (await admin.FindOldestFirstAsync(_ => true)).Select(r => r.Entry?.MessageId ?? "(unreadable)").ToList();
        var poison = Enumerable.Range(1, 20).Where(i => i % 3 == 0).Select(i => "m" + i);
        Assert.Equal(requeue ? [.. poison, "(unreadable)"] : poison.ToList(), left);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ActOldestFirstAsync_EntriesOfAMegabyte_HoldsAFewAtATimeNotAWholePage(bool bigOnesOldest)
    {
        // A flood of oversized payloads leaves dead letters of a megabyte each (the lease keeps them whole). A page of 64 of
        // those is 64 MB, and more with the copies a page is read into: a requeue through the admin endpoint would take a
        // sender pod (256 MiB) with it.
        var cli = fixture.Queue(Queues.Clock());
        var megabyte = System.Text.Encoding.UTF8.GetBytes("{\"id\":\"big\",\"text\":\"" + new string('m', 1 << 20) + "\"}");
        async Task BigAsync()
        {
            for (var i = 0; i < 20; i++)
            {
                await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.InvalidEnvelope, megabyte, cli.Time.GetUtcNow(), "big");
            }
        }

        if (bigOnesOldest)
        {
            await BigAsync();
        }

        for (var i = 0; i < 100; i++)
        {
            await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.Expired, Queues.Payload("small:" + i), cli.Time.GetUtcNow(), "small:" + i);
        }

        if (!bigOnesOldest)
        {
            await BigAsync();
        }

        var admin = new DeadLetterAdmin(fixture.Connection, cli.Keys);
        var pages = new List<(int Count, long Bytes)>();

        var (matched, done) = await admin.ActOldestFirstAsync(
            _ => true,
            (page, _) =>
            {
                pages.Add((page.Count, page.Sum(r => (long)r.Raw.Length)));
                return Task.FromResult(new bool[page.Count]);
            });

        // About PageBytes a page, or one entry. The page after the small ones can take big ones, up to 16 of them.
        Assert.Equal((120, 0), (matched, done));
        var seen = string.Join(", ", pages.Select(p => $"{p.Count} entries {p.Bytes} bytes"));
        var over = pages.Where(p => p.Bytes > DeadLetterAdmin.PageBytes + megabyte.Length).ToList();
        Assert.True(over.Count <= (bigOnesOldest ? 0 : 1), seen);
        Assert.All(over, p => Assert.True(p.Bytes <= 16 * (megabyte.Length + 512L), seen));
        Assert.Contains(pages, p => p.Count == 16);
    }

    [Fact]
    public async Task ActOldestFirstAsync_RequeuedMessagesDeadLetteredAgainMeanwhile_ActsOnlyOnTheEntriesThereWhenItStarted()
    {
        // A sender refuses each requeued message again at once (an oversized payload comes back within a lease): its new
        // dead letter lands at the head, and matches too. The requeue must not meet it again, lap after lap.
        var cli = fixture.Queue(Queues.Clock());
        // 41: the pages of 3 (after the first of 1) end one entry short of a full page, which must ask for that one only.
        for (var i = 0; i < 41; i++)
        {
            await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.Expired, Queues.Payload("m" + i), cli.Time.GetUtcNow(), "m" + i);
        }

        var admin = new DeadLetterAdmin(fixture.Connection, cli.Keys);
        var acted = 0;

        var (matched, done) = await admin.ActOldestFirstAsync(
            r => r.Entry?.Reason == DeadLetterReasons.Expired,
            async (page, token) =>
            {
                acted += page.Count;
                Assert.True(acted <= 41, "the walk met entries dead-lettered after it started");
                var moved = await admin.RequeueAsync(page, token);
                foreach (var record in page)
                {
                    await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.Expired, record.Payload(), cli.Time.GetUtcNow(), record.Entry!.MessageId);
                }

                return moved;
            },
            pageSize: 3);

        Assert.Equal((41, 41), (matched, done));
        Assert.Equal(41, await fixture.Connection.LengthAsync(cli.Keys.Dead));
        Assert.Equal(41, await fixture.Connection.LengthAsync(cli.Keys.ReadyNormal));
    }

    [Fact]
    public async Task RequeueAsync_SameRecordsTwice_MovesEachOnce()
    {
        var cli = fixture.Queue(Queues.Clock());
        await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.Poison, Queues.Payload("p", priority: Priority.High), cli.Time.GetUtcNow(), "p");
        var admin = new DeadLetterAdmin(fixture.Connection, cli.Keys);
        var records = await admin.FindOldestFirstAsync(_ => true);

        var first = await admin.RequeueAsync(records);
        var second = await admin.RequeueAsync(records);

        Assert.Equal([true], first);
        Assert.Equal([false], second);
        Assert.Equal(1, await fixture.Connection.LengthAsync(cli.Keys.ReadyHigh));
    }

    [Fact]
    public async Task PurgeAsync_IdenticalEntries_RemovesOnePerRecord()
    {
        var cli = fixture.Queue(Queues.Clock());
        var payload = Queues.Payload("twin");
        var now = cli.Time.GetUtcNow();
        await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.Expired, payload, now, "twin");
        await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.Expired, payload, now, "twin");
        await Queues.DeadLetterAsync(fixture.Connection, cli.Keys, DeadLetterReasons.Expired, Queues.Payload("other"), now, "other");
        var admin = new DeadLetterAdmin(fixture.Connection, cli.Keys);

        var twins = await admin.FindOldestFirstAsync(r => r.Entry?.MessageId == "twin");
        var removed = await admin.PurgeAsync(twins);

        Assert.Equal([true, true], removed);
        Assert.Equal(1, await admin.CountAsync());
    }

    [Theory]
    [InlineData("""{"version":1,"id":"x","to":"+5511987654321","text":"hi","priority":"low"}""", Priority.Low)]
    [InlineData("""{"version":2,"id":"x","priority":"high"}""", Priority.High)]
    [InlineData("""{"version":1,"txt":"hi"}""", Priority.Normal)]
    [InlineData("not json", Priority.Normal)]
    public void PriorityOf_ReadsThePayloadsOwnPriorityEvenWhenInvalid(string payload, Priority expected) =>
        Assert.Equal(expected, DeadLetterAdmin.PriorityOf(System.Text.Encoding.UTF8.GetBytes(payload)));
}
