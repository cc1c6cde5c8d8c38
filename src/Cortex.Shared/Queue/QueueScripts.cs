using Cortex.Shared.Redis;
using StackExchange.Redis;

namespace Cortex.Shared.Queue;

// Every state change of a message is one of these scripts, so it is atomic: a message is in exactly one of
// ready, delayed, a consumer's lease hash, or dead. A script stopped by an error keeps the writes before it (an ACL
// narrowed while running refuses a call), so each writes a message's new place before it removes the old one, and
// the scripts that move many (lease, promotion, recovery) first ask whether every write they make is permitted and
// every key they write holds the type they write there.
// Lease hash values and delayed members carry the priority index as their first character ('0' high, '1' normal,
// '2' low). Items put back after a consumer died carry a header "\30<deliveries>\30" in front of the payload so the
// poison count travels with the message. A dead-letter entry is a JSON line without the payload, a newline, then the
// payload's bytes as they were pushed (DeadLetterEntry.ToStored); every script that writes one writes that form.
internal static class QueueScripts
{
    // The redelivery header, read in one place: returns the payload without it and the deliveries it counts (0 if none).
    // Only 1 to 9 digits are a count, as RedisMessageQueue.Unwrap reads it; anything else is the producer's payload as
    // pushed. A producer can write the header too: tonumber took "1e400" as infinity and "nan" as NaN, which cjson
    // refuses to write, and a recovery sweep stopped there after pushing back the leases before it, on every sweep.
    private const string Unwrap = """
        local function unwrap(item)
          if string.byte(item, 1) == 30 then
            local e = string.find(item, '\30', 2, true)
            if e and e <= 11 and string.find(item, '^%d+\30', 2) then return string.sub(item, e + 1), tonumber(string.sub(item, 2, e - 1)) end
          end
          return item, 0
        end

        """;

    // A send claim "owner|leaseId" (in sent:<id>) read in one place: the lease hash it names, under the leases key prefix,
    // and the lease's field there; nil for a value that is no claim.
    private const string ClaimedLease = """
        local function claimedLease(claim, prefix)
          local sep = string.find(claim, '|', 1, true)
          if sep then return prefix .. string.sub(claim, 1, sep - 1), string.sub(claim, sep + 1) end
        end

        """;

    // The first key that holds another type than the script writes there, as "key is a T, not a W"; nil when none does.
    // A producer that writes a queue key with the wrong command (SET where LPUSH belongs) would otherwise make a write
    // fail with WRONGTYPE after the pops or pushes before it, which a script stopped by an error keeps.
    internal const string Mistyped = """
        local function mistyped(want, ...)
          for _, key in ipairs({...}) do
            local t = redis.call('TYPE', key)['ok']
            if t ~= 'none' and t ~= want then return key .. ' is a ' .. t .. ', not a ' .. want end
          end
        end

        """;

    /// <summary>
    /// Whether Redis refused a queue call because a key holds another type than Cortex writes there: the scripts name
    /// the key and move nothing. Waiting does not fix it; moving the key aside does.
    /// </summary>
    public static bool IsMistypedKey(Exception ex) =>
        ex is RedisServerException && ex.Message.StartsWith("WRONGTYPE", StringComparison.Ordinal);

    // Whether the script's user may run a call, asked without running it. Redis before 7.0 has no acl_check_cmd and
    // cannot be asked: there every call passes, and a refusal stops a script halfway.
    internal const string Permitted = """
        local permitted = redis.acl_check_cmd or function() return true end

        """;

    // KEYS: ready high, normal, low, leases:<owner>, lease-seq, consumers, last-lease:<owner>, paused, dead
    // ARGV: owner, now ms, quota high, quota normal, quota low, request token, byte budget, envelope byte limit, dead-at ISO time,
    //       highest lease id the caller's process has been given
    // Returns {{size of each payload dead-lettered here}, leaseId1, p1, item1, leaseId2, p2, item2, ...} or {}.
    // Idempotent per request token: if the reply of a lease was lost (connection cut after Redis ran it), the caller
    // retries with the same token and gets the same batch back, instead of leaving it orphaned in its own lease hash
    // until the process stops. The record is kept a day, so a retry after hours of Redis away still finds it; one
    // small key per consumer, removed with a consumer that stops.
    // A payload over the envelope limit can never be sent, so it is dead-lettered here instead of being leased: its
    // bytes are not carried to the consumer and back. The entry is its JSON line, a newline, then the payload's raw
    // bytes, the form of every dead letter (escaping a megabyte in Lua would cost more than carrying it).
    public static readonly RedisScript Lease = new(Unwrap + Permitted + Mistyped + """
        redis.call('ZADD', KEYS[6], ARGV[2], ARGV[1])
        local last = redis.call('GET', KEYS[7])
        if last then
          local a = string.find(last, '|', 1, true)
          local b = string.find(last, '|', a + 1, true)
          local c = string.find(last, '|', b + 1, true) or (#last + 1)
          if string.sub(last, 1, a - 1) == ARGV[6] then
            local first = tonumber(string.sub(last, a + 1, b - 1))
            local n = tonumber(string.sub(last, b + 1, c - 1))
            local dead = {}
            for size in string.gmatch(string.sub(last, c + 1), '%d+') do dead[#dead + 1] = tonumber(size) end
            local out = {dead}
            for j = 0, n - 1 do
              -- A lease already gone (reaped after a long outage) is back in ready: skip it.
              local v = redis.call('HGET', KEYS[4], first + j)
              if v then
                out[#out + 1] = first + j
                out[#out + 1] = tonumber(string.sub(v, 1, 1))
                out[#out + 1] = string.sub(v, 2)
              end
            end
            return out
          end
        end
        -- Paused by an operator: the consumer stays alive (heartbeat above) and leases nothing until resumed.
        if redis.call('GET', KEYS[8]) then return {} end
        -- A refusal after the pops would lose what they took.
        if not (permitted('INCRBY', KEYS[5], '1') and permitted('SET', KEYS[5], '1') and permitted('HSET', KEYS[4], '1', 'x')
            and permitted('SET', KEYS[7], 'x') and permitted('LPUSH', KEYS[9], 'x')) then
          return redis.error_reply('NOPERM this user may not run INCRBY, HSET, SET or LPUSH on the keys a lease writes')
        end
        local mistake = mistyped('list', KEYS[1], KEYS[2], KEYS[3], KEYS[9]) or mistyped('hash', KEYS[4])
          or mistyped('string', KEYS[5])
        if not mistake then
          local seq = redis.call('GET', KEYS[5])
          if seq and not string.match(seq, '^%d+$') then mistake = KEYS[5] .. ' holds "' .. string.sub(seq, 1, 20) .. '", not a lease id' end
        end
        if mistake then return redis.error_reply('WRONGTYPE ' .. mistake .. '; nothing was leased') end
        local quota = {tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])}
        local max = quota[1] + quota[2] + quota[3]
        local limit = tonumber(ARGV[8])
        local popped = {}
        local dead = {}
        local n = 0
        -- A byte budget bounds what one call carries to the client and dead-letters here, whatever a producer pushed:
        -- 100 payloads of 60 KB come a slice per call, not 6 MB at once. One item is always taken, so nothing is stuck.
        local budget = tonumber(ARGV[7])
        local bytes = 0
        local function take(i, count)
          while count > 0 and (n + #dead == 0 or bytes < budget) do
            local item = redis.call('RPOP', KEYS[i])
            if not item then return end
            bytes = bytes + #item
            count = count - 1
            local payload, deliveries = unwrap(item)
            if #payload > limit then
              dead[#dead + 1] = #payload
              redis.call('LPUSH', KEYS[9], '{"reason":"invalid_envelope","detail":"envelope is ' .. #payload ..
                ' bytes, over the ' .. limit .. '-byte limit","attempts":0,"deliveries":' .. (deliveries + 1) ..
                ',"deadAt":"' .. ARGV[9] .. '"}\n' .. payload)
            else
              n = n + 1
              popped[n] = {i - 1, item}
            end
          end
        end
        for i = 1, 3 do take(i, quota[i]) end
        for i = 1, 3 do
          if n + #dead >= max then break end
          take(i, max - n - #dead)
        end
        if n + #dead == 0 then return {} end
        local first = 0
        local out = {dead}
        if n > 0 then
          first = redis.call('INCRBY', KEYS[5], n) - n + 1
          -- A Redis that lost its last writes (the AOF fsync window, a failover) hands out ids again that a live consumer
          -- still holds; an ack of the old message would then remove the new one's lease. Ids only go up.
          local floor = tonumber(ARGV[10])
          if first <= floor then
            first = floor + 1
            redis.call('SET', KEYS[5], floor + n)
          end
          local fields = {}
          for j = 1, n do
            local p, item = popped[j][1], popped[j][2]
            fields[2 * j - 1] = first + j - 1
            fields[2 * j] = p .. item
            out[3 * j - 1] = first + j - 1
            out[3 * j] = p
            out[3 * j + 1] = item
          end
          redis.call('HSET', KEYS[4], unpack(fields))
        end
        redis.call('SET', KEYS[7], ARGV[6] .. '|' .. first .. '|' .. n .. '|' .. table.concat(dead, ','), 'PX', 86400000)
        return out
        """);

    // The "1" written here replaces the send claim: from now on the id counts as sent, for the idempotency window, or
    // until the message expires when that is later (a copy still waiting could otherwise be sent once the window is
    // over). A copy skipped as already sent is acked too, and leaves the marker as it is: the window counts from the send.
    // KEYS: leases:<owner>, sent:<id1>, sent:<id2>, ...   ARGV: leaseId1, marker ttl ms 1, leaseId2, marker ttl ms 2, ...
    // Returns how many leases were already gone (recovered by another consumer after a stall).
    public static readonly RedisScript Ack = new("""
        local lost = 0
        for i = 2, #KEYS do
          if redis.call('GET', KEYS[i]) ~= '1' then
            redis.call('SET', KEYS[i], '1', 'PX', ARGV[2 * i - 2])
          end
          if redis.call('HDEL', KEYS[1], ARGV[2 * i - 3]) == 0 then lost = lost + 1 end
        end
        return lost
        """);

    // Claims message ids before sending, so one id is never in flight twice, even across pods.
    // KEYS: sent:<id1>, sent:<id2>, ...   ARGV: marker ttl ms, leases key prefix, claim1, claim2, ... (claim = owner|leaseId)
    // Per id: 0 = claimed, send it; 1 = already sent, skip it; 2 = a live lease elsewhere holds it, try later;
    // 3 = withdrawn by its producer (Withdraw below): its lease is released here, and the marker stays for the producer.
    // A claim whose lease no longer exists (its consumer died, or it was retried or returned) is stale and taken over.
    public static readonly RedisScript Claim = new(ClaimedLease + """
        local out = {}
        for i = 1, #KEYS do
          local claim = ARGV[i + 2]
          local current = redis.call('GET', KEYS[i])
          local status = 0
          if current == '1' then
            status = 1
          elseif current == 'withdrawn' then
            status = 3
            redis.call('HDEL', claimedLease(claim, ARGV[2]))
          elseif current and current ~= claim then
            local key, field = claimedLease(current, ARGV[2])
            if key and redis.call('HEXISTS', key, field) == 1 then status = 2 end
          end
          if status == 0 then redis.call('SET', KEYS[i], claim, 'PX', ARGV[1]) end
          out[i] = status
        end
        return out
        """);

    // Withdraws messages a producer no longer wants sent (the scheduler's held messages whose reason is gone): out of the
    // delayed set, and their id marked so that a consumer's claim skips them wherever they wait (a ready list after
    // promotion, a retry, a lease not yet claimed). Asked again for a message it withdrew (its caller stopped before
    // recording it), it answers the same.
    // The marker lives as long as a sent one would (the window, or until the message expires when that is later): a copy
    // still waiting after it lapsed would be sent.
    // KEYS: delayed, sent:<id1>, sent:<id2>, ...   ARGV: leases key prefix, member1, marker ttl ms 1, member2, ttl 2, ...
    // (member = priority digit + payload, as in the delayed set). Per message: 1 = withdrawn; 0 = too late: sent, or a
    // live lease is sending it now.
    public static readonly RedisScript Withdraw = new(ClaimedLease + """
        local out = {}
        for i = 2, #KEYS do
          redis.call('ZREM', KEYS[1], ARGV[2 * i - 2])
          local current = redis.call('GET', KEYS[i])
          local sending = current == '1'
          if current and not sending then
            local key, field = claimedLease(current, ARGV[1])
            sending = key ~= nil and redis.call('HEXISTS', key, field) == 1
          end
          if sending then
            out[i - 1] = 0
          else
            redis.call('SET', KEYS[i], 'withdrawn', 'PX', ARGV[2 * i - 1])
            out[i - 1] = 1
          end
        end
        return out
        """);

    // A heartbeat that also asks whether one lease is still the consumer's: after a spell in which Redis did not hear
    // from it, another consumer may have recovered its leases, and a message sent then would reach its customer twice.
    // KEYS: consumers, leases:<owner>   ARGV: owner, now ms, leaseId   Returns 1 while the lease is held, 0 once it is gone.
    public static readonly RedisScript HoldsLease = new("""
        redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
        return redis.call('HEXISTS', KEYS[2], ARGV[3])
        """);

    // KEYS: leases:<owner>, delayed   ARGV: leaseId, due ms, member (priority char + payload)
    public static readonly RedisScript Retry = new("""
        if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
        redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
        redis.call('HDEL', KEYS[1], ARGV[1])
        return 1
        """);

    // One call for a whole batch of dead letters (a leased batch full of malformed payloads costs one round trip).
    // KEYS: leases:<owner>, dead   ARGV: leaseId1, entry json1, leaseId2, entry json2, ... (leaseId '' = never leased)
    // Returns how many were moved; a lease already gone (recovered elsewhere) writes no entry.
    public static readonly RedisScript DeadLetter = new("""
        local moved = 0
        for i = 1, #ARGV, 2 do
          if ARGV[i] == '' or redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
            redis.call('LPUSH', KEYS[2], ARGV[i + 1])
            if ARGV[i] ~= '' then redis.call('HDEL', KEYS[1], ARGV[i]) end
            moved = moved + 1
          end
        end
        return moved
        """);

    // Puts leased messages back at the consuming end of their ready list, in their original order, without
    // counting a delivery (graceful shutdown, open circuit). An empty ARGV returns every lease of the owner.
    // KEYS: leases:<owner>, ready high, normal, low   ARGV: leaseIds
    public static readonly RedisScript Return = new("""
        local ids = ARGV
        if #ids == 0 then
          ids = redis.call('HKEYS', KEYS[1])
          table.sort(ids, function(a, b) return tonumber(a) < tonumber(b) end)
        end
        local n = 0
        for i = #ids, 1, -1 do
          local v = redis.call('HGET', KEYS[1], ids[i])
          if v then
            redis.call('RPUSH', KEYS[2 + tonumber(string.sub(v, 1, 1))], string.sub(v, 2))
            redis.call('HDEL', KEYS[1], ids[i])
            n = n + 1
          end
        end
        return n
        """);

    // Puts one leased message back at the producing end of its ready list, behind everything waiting there, without
    // counting a delivery: a message whose send failed as the circuit opened, so that the next probe is another one.
    // KEYS: leases:<owner>, ready high, normal, low   ARGV: leaseId
    public static readonly RedisScript ReturnToBack = new("""
        local v = redis.call('HGET', KEYS[1], ARGV[1])
        if not v then return 0 end
        redis.call('LPUSH', KEYS[2 + tonumber(string.sub(v, 1, 1))], string.sub(v, 2))
        redis.call('HDEL', KEYS[1], ARGV[1])
        return 1
        """);

    // KEYS: delayed, ready high, normal, low   ARGV: now ms, limit
    // Due messages go to the consuming end of their ready list, earliest first.
    // A refusal of the ZREM after the pushes would leave the messages in both places, pushed again every sweep.
    public static readonly RedisScript Promote = new(Permitted + Mistyped + """
        local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
        if #due == 0 then return 0 end
        if not (permitted('RPUSH', KEYS[2], 'x') and permitted('RPUSH', KEYS[3], 'x') and permitted('RPUSH', KEYS[4], 'x')
            and permitted('ZREM', KEYS[1], 'x')) then
          return redis.error_reply('NOPERM this user may not run RPUSH or ZREM on the keys a promotion writes')
        end
        local mistake = mistyped('list', KEYS[2], KEYS[3], KEYS[4])
        if mistake then return redis.error_reply('WRONGTYPE ' .. mistake .. '; nothing was promoted') end
        for i = #due, 1, -1 do
          local m = due[i]
          redis.call('RPUSH', KEYS[2 + tonumber(string.sub(m, 1, 1))], string.sub(m, 2))
        end
        redis.call('ZREM', KEYS[1], unpack(due))
        return #due
        """);

    // KEYS: consumers, ready high, normal, low, dead
    // ARGV: heartbeat deadline ms, max deliveries, leases key prefix, dead-at ISO time, owner limit[, owner]
    // Returns {recovered, poisoned, consumers reaped}. With an owner, that consumer alone, whatever its heartbeat: a
    // process starting under the id of one that stopped without returning its leases.
    // A refusal of the DEL after the pushes would leave the messages in both places, pushed again every sweep.
    public static readonly RedisScript Recover = new(Unwrap + Permitted + Mistyped + """
        local owners
        if ARGV[6] then
          -- Nothing held is nothing to recover: a key of the wrong type elsewhere is the lease's to name, not a start's.
          owners = redis.call('TYPE', ARGV[3] .. ARGV[6])['ok'] == 'none' and {} or {ARGV[6]}
        else
          owners = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[5]))
        end
        local mistake = #owners > 0 and mistyped('list', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
        if mistake then return redis.error_reply('WRONGTYPE ' .. mistake .. '; nothing was recovered') end
        local max = tonumber(ARGV[2])
        local recovered, poisoned = 0, 0
        for _, owner in ipairs(owners) do
          local key = ARGV[3] .. owner
          if not (permitted('HGETALL', key) and permitted('RPUSH', KEYS[2], 'x') and permitted('RPUSH', KEYS[3], 'x')
              and permitted('RPUSH', KEYS[4], 'x') and permitted('LPUSH', KEYS[5], 'x') and permitted('DEL', key)
              and permitted('ZREM', KEYS[1], owner)) then
            return redis.error_reply('NOPERM this user may not run HGETALL, RPUSH, LPUSH, DEL or ZREM on the keys a recovery writes')
          end
          mistake = mistyped('hash', key)
          if mistake then return redis.error_reply('WRONGTYPE ' .. mistake .. '; recovery stopped there') end
          local entries = redis.call('HGETALL', key)
          for i = 1, #entries, 2 do
            local v = entries[i + 1]
            local p = tonumber(string.sub(v, 1, 1))
            local payload, deliveries = unwrap(string.sub(v, 2))
            deliveries = deliveries + 1
            if deliveries >= max then
              -- Rare path: read the id and kind so an operator can find the message; a payload that is not JSON has neither.
              local ok, doc = pcall(cjson.decode, payload)
              local id, kind, attempts = nil, nil, 0
              if ok and type(doc) == 'table' then
                if type(doc.id) == 'string' then id = doc.id end
                if type(doc.kind) == 'string' then kind = doc.kind end
                -- As the envelope allows (0 to 1000): cjson reads 1e400 as infinity and nan as NaN, and would refuse to
                -- write them back, stopping the script after the pushes before it, to be run again every sweep.
                local a = doc.attempt
                if type(a) == 'number' and a >= 0 and a <= 1000 then attempts = a end
              end
              redis.call('LPUSH', KEYS[5], cjson.encode({
                reason = 'poison',
                detail = 'leased ' .. deliveries .. ' times and never acknowledged: its consumer died or hung each time',
                messageId = id,
                kind = kind,
                attempts = attempts,
                deliveries = deliveries,
                deadAt = ARGV[4]}) .. '\n' .. payload)
              poisoned = poisoned + 1
            else
              redis.call('RPUSH', KEYS[2 + p], '\30' .. deliveries .. '\30' .. payload)
              recovered = recovered + 1
            end
          end
          redis.call('DEL', key)
          redis.call('ZREM', KEYS[1], owner)
        end
        return {recovered, poisoned, #owners}
        """);

    // KEYS: the key a push was refused on; ARGV: the type Cortex writes there, what happened to the batch.
    // Redis's WRONGTYPE refusal of a plain push names no key: this says which key, what it holds and what went in, as
    // the scripts' own refusals do. Returns nil if the key holds the right type by now.
    public static readonly RedisScript NameMistyped = new(Mistyped + """
        local mistake = mistyped(ARGV[1], KEYS[1])
        if mistake then return redis.error_reply('WRONGTYPE ' .. mistake .. '; ' .. ARGV[2]) end
        return false
        """);

    // KEYS: ready high, normal, low, delayed, dead, consumers   ARGV: leases key prefix
    // A key of the wrong type is named (stats are an operator's first look), without asking producers' users for TYPE.
    // The refusal is returned, not raised: Redis 7 appends " script: <sha>, on @user_script:N." to an error a script
    // raises, which the operator then reads after the key.
    public static readonly RedisScript Stats = new("""
        local function count(want, command, key, ...)
          local n = redis.pcall(command, key, ...)
          if type(n) == 'table' and n.err then
            if string.sub(n.err, 1, 9) == 'WRONGTYPE' then n.err = 'WRONGTYPE ' .. key .. ' is not a ' .. want end
            error(n)
          end
          return n
        end
        local ok, result = pcall(function()
          local leased = 0
          local owners = count('zset', 'ZRANGE', KEYS[6], 0, -1)
          for _, owner in ipairs(owners) do
            leased = leased + count('hash', 'HLEN', ARGV[1] .. owner)
          end
          -- Live consumers only: a crashed pod stays in the set until a sender's recovery sweep, and with no sender
          -- running that never happens, so counting the whole set would hide "nobody is consuming".
          return {count('list', 'LLEN', KEYS[1]), count('list', 'LLEN', KEYS[2]), count('list', 'LLEN', KEYS[3]),
                  count('zset', 'ZCARD', KEYS[4]), leased, count('list', 'LLEN', KEYS[5]), count('zset', 'ZCOUNT', KEYS[6], ARGV[2], '+inf')}
        end)
        if ok then return result end
        return redis.error_reply(type(result) == 'table' and result.err or tostring(result))
        """);

    /// <summary>The next message to lease from each ready list (the tail): high, normal, low; nil when empty.</summary>
    public static readonly RedisScript OldestReady = new("""
        return {redis.call('LINDEX', KEYS[1], -1), redis.call('LINDEX', KEYS[2], -1), redis.call('LINDEX', KEYS[3], -1)}
        """);
}
