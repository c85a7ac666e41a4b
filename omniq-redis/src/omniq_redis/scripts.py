"""The Lua scripts that make each queue operation atomic on the server.

A queue's keys (``KEYS``) and its task hashes (``prefix .. id``) share one hash tag. Scores of the
ready set order claims: ``(100 - priority) * 1e13 + eta_ms``, so higher priority first, then
earlier eta; equal scores fall back to the member, the task id.
"""

from __future__ import annotations

__all__ = [
    "ACK",
    "APPEND_EVENTS",
    "CANCEL",
    "CLAIM",
    "CLAIM_TICK",
    "COMPLETE",
    "DEAD_LETTER",
    "ENQUEUE",
    "ENQUEUE_ONE_WITH_EVENT",
    "ENQUEUE_WITH_EVENTS",
    "EXTEND",
    "NACK",
    "PURGE",
    "PURGE_EVENTS",
    "RECOVER",
    "REQUEUE_DEAD",
    "STORE_RESULTS",
]

_SCORE = """
-- A damaged hash's fields count as 0 here (the claim sets such a hash aside as corrupt), so
-- that no script stops half-way on one.
local function score(prio, eta)
  return (100 - (tonumber(prio) or 0)) * 1e13 + (tonumber(eta) or 0)
end
"""

_ENQUEUE_FN = """
-- Adds a batch of tasks to one queue; calls on_added(i) for each task that was new.
-- tasks: [id, data, prio, eta_ms, max_attempts] each, every value a string (Lua numbers would
-- print a long one as 1.7e+12), decoded from one JSON argument: redis-py packs each argument
-- in Python, which cost more than the script itself.
-- Wakes idle workers only when they could be waiting: a worker waits only after it found the
-- ready set empty, so a publish is needed when this fills an empty ready set, or when a delayed
-- task becomes the earliest one (waiting workers re-arm their timer). A busy queue publishes
-- nothing, so producers and workers are not flooded with wake-ups they ignore.
local function enqueue(ready, delayed, prefix, now, channel, tasks, on_added)
  local was_empty = redis.call('ZCARD', ready) == 0
  local first_due = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')[2]
  local added = 0
  local wake = false
  for i, task in ipairs(tasks) do
    local id, prio, eta = task[1], task[3], task[4]
    local key = prefix .. id
    if redis.call('EXISTS', key) == 0 then
      redis.call('HSET', key, 'data', task[2], 'state', 'pending', 'attempt', 0,
                 'prio', prio, 'eta', eta, 'max', task[5], 'cancel', 0)
      if tonumber(eta) <= now then
        redis.call('ZADD', ready, score(prio, eta), id)
        wake = wake or was_empty
      else
        redis.call('ZADD', delayed, eta, id)
        wake = wake or first_due == nil or tonumber(eta) < tonumber(first_due)
      end
      added = added + 1
      if on_added then on_added(i) end
    end
  end
  if wake then redis.call('PUBLISH', channel, 1) end
  return added
end
"""

_EVENTS_FN = """
-- An event: [id, score_us, task_id, data], every value a string. Its record goes into the data
-- hash, its id into the by-time and the task's index (which expires ttl_s after the task's
-- last event), and the record onto the capped live stream.
local function append_event(data, by_time, stream, index_prefix, ttl, stream_maxlen, event)
  local id, score_us, task_key = event[1], event[2], index_prefix .. event[3]
  redis.call('HSET', data, id, event[4])
  redis.call('ZADD', by_time, score_us, id)
  redis.call('ZADD', task_key, score_us, id)
  redis.call('EXPIRE', task_key, ttl)
  redis.call('XADD', stream, 'MAXLEN', '~', stream_maxlen, '*', 'data', event[4])
end
-- A batch of events, as append_event each, with the records and the by-time entries written
-- in one command per 500 events (each command from a script costs about as much as its work).
local function append_events(data, by_time, stream, index_prefix, ttl, stream_maxlen, events)
  local records, times = {}, {}
  local function flush()
    if #records > 0 then
      redis.call('HSET', data, unpack(records))
      redis.call('ZADD', by_time, unpack(times))
      records, times = {}, {}
    end
  end
  for _, event in ipairs(events) do
    local id, score_us, task_key = event[1], event[2], index_prefix .. event[3]
    records[#records + 1] = id
    records[#records + 1] = event[4]
    times[#times + 1] = score_us
    times[#times + 1] = id
    redis.call('ZADD', task_key, score_us, id)
    redis.call('EXPIRE', task_key, ttl)
    redis.call('XADD', stream, 'MAXLEN', '~', stream_maxlen, '*', 'data', event[4])
    if #records >= 1000 then flush() end
  end
  flush()
end
-- Drops an event's record and its task's index entry (the caller drops its by-time entry); an
-- undecodable record's index entry is left to expire with its index.
local function forget_event(data, index_prefix, id)
  local record = redis.call('HGET', data, id)
  if record then
    local ok, decoded = pcall(cjson.decode, record)
    if ok and type(decoded) == 'table' and type(decoded['task_id']) == 'string' then
      redis.call('ZREM', index_prefix .. decoded['task_id'], id)
    end
    redis.call('HDEL', data, id)
  end
end
-- Drops the oldest events past max_events (their record and index entries).
local function trim_events(data, by_time, index_prefix, max_events)
  local excess = redis.call('ZCARD', by_time) - tonumber(max_events)
  if excess <= 0 then return end
  local oldest = redis.call('ZPOPMIN', by_time, excess)
  for i = 1, #oldest, 2 do
    forget_event(data, index_prefix, oldest[i])
  end
end
"""

_RESULTS_FN = """
-- A result is a string: its record (JSON) whose last key is its delivery, which is read from
-- the last bytes only (GETRANGE), so a large payload is not read to compare. A record of
-- another shape is decoded whole; one written before results had a delivery counts as 0.
local function stored_delivery(key)
  local tail = redis.call('GETRANGE', key, -32, -1)
  if tail == '' then return -1 end
  local found = string.match(tail, '"delivery":(%d+)}$')
  if found then return tonumber(found) end
  local ok, doc = pcall(cjson.decode, redis.call('GET', key))
  if ok and type(doc) == 'table' and tonumber(doc['delivery']) then
    return tonumber(doc['delivery'])
  end
  return 0
end
-- Stores a result unless the stored one is of a higher delivery (the fencing compare-and-set);
-- ttl_ms: '' keeps it until deleted, <= 0 drops it at once. Returns whether it was stored.
local function store_result(key, record, delivery, ttl_ms)
  if stored_delivery(key) > tonumber(delivery) then return false end
  if ttl_ms == '' then
    redis.call('SET', key, record)
  elseif tonumber(ttl_ms) <= 0 then
    redis.call('DEL', key)
  else
    redis.call('SET', key, record, 'PX', ttl_ms)
  end
  return true
end
"""

ENQUEUE_ONE_WITH_EVENT = f"""
{_SCORE}
{_EVENTS_FN}
-- The outbox for one task, its values as arguments (no JSON to decode): what a producer's
-- one-at-a-time enqueue sends, where the script's own time is most of the call's.
-- Returns 0 (the id is queued already), 1 (added) or 2 (added, and idle workers woken).
-- KEYS: ready, delayed, event data, events by time, event stream
-- ARGV: prefix, now_ms, channel, id, data, prio, eta_ms, max_attempts,
--       event index prefix, event ttl_s, stream maxlen, max_events, event id, score_us, event
local id, prio, eta = ARGV[4], ARGV[6], ARGV[7]
local key = ARGV[1] .. id
if redis.call('EXISTS', key) == 1 then return 0 end
redis.call('HSET', key, 'data', ARGV[5], 'state', 'pending', 'attempt', 0,
           'prio', prio, 'eta', eta, 'max', ARGV[8], 'cancel', 0)
local wake
if tonumber(eta) <= tonumber(ARGV[2]) then
  wake = redis.call('ZCARD', KEYS[1]) == 0
  redis.call('ZADD', KEYS[1], score(prio, eta), id)
else
  local first_due = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2]
  wake = first_due == nil or tonumber(eta) < tonumber(first_due)
  redis.call('ZADD', KEYS[2], eta, id)
end
if wake then redis.call('PUBLISH', ARGV[3], 1) end
append_event(KEYS[3], KEYS[4], KEYS[5], ARGV[9], ARGV[10], ARGV[11],
             {{ARGV[13], ARGV[14], id, ARGV[15]}})
trim_events(KEYS[3], KEYS[4], ARGV[9], ARGV[12])
return wake and 2 or 1
"""

ENQUEUE = f"""
{_SCORE}
{_ENQUEUE_FN}
-- KEYS: ready, delayed   ARGV: prefix, now_ms, channel, tasks (JSON)
return enqueue(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), ARGV[3], cjson.decode(ARGV[4]), nil)
"""

ENQUEUE_WITH_EVENTS = f"""
{_SCORE}
{_ENQUEUE_FN}
{_EVENTS_FN}
-- The enqueue outbox: tasks and the events of those added, in one script (one round trip).
-- KEYS: ready, delayed, event data, events by time, event stream
-- ARGV: prefix, now_ms, channel, tasks (JSON), event index prefix, event ttl_s, stream maxlen,
--       max_events, events (JSON; events[i] is the event of tasks[i])
local events, appended = cjson.decode(ARGV[9]), {{}}
local added = enqueue(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), ARGV[3],
  cjson.decode(ARGV[4]), function(i) appended[#appended + 1] = events[i] end)
if added > 0 then
  append_events(KEYS[3], KEYS[4], KEYS[5], ARGV[5], ARGV[6], ARGV[7], appended)
  trim_events(KEYS[3], KEYS[4], ARGV[5], ARGV[8])
end
return added
"""

CLAIM = f"""
{_SCORE}
-- KEYS: ready, delayed, active, dead
-- ARGV: prefix, now_ms, limit, lease_until_ms, worker, token_base, corrupt reason
-- A claim counts the attempt and the delivery (never reset: it fences results). A hash written
-- before deliveries were counted has none: its attempt is their lower bound.
-- A hash that is not what enqueue writes (no data, an unknown state, a field that should be a
-- number and is not) is moved to the dead letters with the corrupt reason, kept as it is, and
-- the claim goes on with the next task: one damaged hash never fails the batch.
-- Returns the claimed {{id, data, attempt, token, delivery}}, the ids set aside, how many
-- tasks are still ready and the earliest delayed task's eta_ms (false if none): a worker
-- that claimed fewer than it asked for waits on that, with no second round trip.
local now = ARGV[2]
local corrupt = {{}}
local function sound(f)
  return type(f[1]) == 'string'
    and (f[2] == 'pending' or f[2] == 'active' or f[2] == 'dead')
    and tonumber(f[3]) ~= nil and tonumber(f[4]) ~= nil and tonumber(f[5]) ~= nil
    and (f[6] == false or tonumber(f[6]) ~= nil)
end
-- The hash's fields, or nil when the key is missing or not a hash.
local function read(key)
  local f = redis.pcall('HMGET', key, 'data', 'state', 'attempt', 'prio', 'eta', 'deliveries')
  if type(f) ~= 'table' or f.err then return nil end
  return f
end
local function set_aside(key, id, f)
  corrupt[#corrupt + 1] = id
  if f == nil then return end  -- not a hash: left as it is, out of the queue's sets
  redis.call('HSET', key, 'state', 'dead', 'token', '', 'lease', '', 'worker', '',
             'error', ARGV[7], 'finished', now)
  redis.call('ZADD', KEYS[4], now, id)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
for _, id in ipairs(due) do
  local key = ARGV[1] .. id
  redis.call('ZREM', KEYS[2], id)
  local f = read(key)
  if f ~= nil and sound(f) then
    if f[2] == 'pending' then redis.call('ZADD', KEYS[1], score(f[4], f[5]), id) end
  elseif redis.call('EXISTS', key) == 1 then
    set_aside(key, id, f)
  end
end
local limit = tonumber(ARGV[3])
local out = {{}}
local n = 0
-- the claimed ids go into the active set in one command per batch popped
while #out < limit do
  local popped = redis.call('ZPOPMIN', KEYS[1], math.min(limit - #out, 500))
  if #popped == 0 then break end
  local active = {{}}
  for i = 1, #popped, 2 do
    local id = popped[i]
    local key = ARGV[1] .. id
    local f = read(key)
    if f ~= nil and sound(f) then
      if f[2] == 'pending' then
        n = n + 1
        local token = ARGV[6] .. n
        local attempt = tonumber(f[3]) + 1
        local delivery = (tonumber(f[6]) or (attempt - 1)) + 1
        redis.call('HSET', key, 'state', 'active', 'token', token, 'lease', ARGV[4],
                   'worker', ARGV[5], 'cancel', 0, 'attempt', attempt, 'deliveries', delivery)
        active[#active + 1] = ARGV[4]
        active[#active + 1] = id
        out[#out + 1] = {{id, f[1], attempt, token, delivery}}
      end
    elseif redis.call('EXISTS', key) == 1 then
      set_aside(key, id, f)
    end
  end
  if #active > 0 then redis.call('ZADD', KEYS[3], unpack(active)) end
end
local first_due = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2] or false
return {{out, corrupt, redis.call('ZCARD', KEYS[1]), first_due}}
"""

EXTEND = """
-- KEYS: active   ARGV: prefix, lease_until_ms, then pairs: id, token
local out = {}
for i = 3, #ARGV, 2 do
  local key = ARGV[1] .. ARGV[i]
  local fields = redis.call('HMGET', key, 'state', 'token', 'cancel')
  if fields[1] == 'active' and fields[2] == ARGV[i + 1] then
    redis.call('HSET', key, 'lease', ARGV[2])
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[i])
    out[#out + 1] = tonumber(fields[3])
  else
    out[#out + 1] = -1
  end
end
return out
"""

ACK = """
-- KEYS: active   ARGV: prefix, then pairs: id, token
local out = {}
for i = 2, #ARGV, 2 do
  local key = ARGV[1] .. ARGV[i]
  local fields = redis.call('HMGET', key, 'state', 'token')
  if fields[1] == 'active' and fields[2] == ARGV[i + 1] then
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], ARGV[i])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
"""

NACK = f"""
{_SCORE}
-- KEYS: ready, delayed, active
-- ARGV: prefix, id, token, retry_ms, now_ms, error, give_back, channel
local key = ARGV[1] .. ARGV[2]
local fields = redis.call('HMGET', key, 'state', 'token', 'prio')
if fields[1] ~= 'active' or fields[2] ~= ARGV[3] then return 0 end
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('HSET', key, 'state', 'pending', 'token', '', 'lease', '', 'worker', '',
           'cancel', 0, 'error', ARGV[6], 'eta', ARGV[4])
if tonumber(ARGV[7]) == 1 then redis.call('HINCRBY', key, 'attempt', -1) end
if tonumber(ARGV[4]) <= tonumber(ARGV[5]) then
  redis.call('ZADD', KEYS[1], score(fields[3], ARGV[4]), ARGV[2])
  redis.call('PUBLISH', ARGV[8], 1)
else
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
end
return 1
"""

DEAD_LETTER = """
-- KEYS: active, dead   ARGV: prefix, id, token, reason, now_ms
local key = ARGV[1] .. ARGV[2]
local fields = redis.call('HMGET', key, 'state', 'token')
if fields[1] ~= 'active' or fields[2] ~= ARGV[3] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[2])
redis.call('HSET', key, 'state', 'dead', 'token', '', 'lease', '', 'worker', '', 'cancel', 0,
           'error', ARGV[4], 'finished', ARGV[5])
return 1
"""

RECOVER = f"""
{_SCORE}
-- KEYS: ready, active, dead
-- ARGV: prefix, now_ms, limit, channel, max_deliveries, requeued reason,
--       dead reason before and after its count of deliveries
-- An expired lease is not a failed attempt: the task is pending again with its attempt given
-- back, and dead only once delivered max_deliveries times (a poison pill).
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {{}}
local woke = false
for _, id in ipairs(ids) do
  local key = ARGV[1] .. id
  redis.call('ZREM', KEYS[2], id)
  local fields = redis.call('HMGET', key, 'attempt', 'deliveries', 'prio', 'state')
  if fields[4] == 'active' then
    local attempt = tonumber(fields[1]) or 0
    local deliveries = tonumber(fields[2]) or attempt
    local dead = deliveries >= tonumber(ARGV[5])
    redis.call('HSET', key, 'token', '', 'lease', '', 'worker', '', 'cancel', 0,
               'deliveries', deliveries)
    if dead then
      redis.call('HSET', key, 'state', 'dead', 'finished', ARGV[2],
                 'error', ARGV[7] .. deliveries .. ARGV[8])
      redis.call('ZADD', KEYS[3], ARGV[2], id)
    else
      redis.call('HSET', key, 'state', 'pending', 'eta', ARGV[2], 'error', ARGV[6],
                 'attempt', math.max(attempt - 1, 0))
      redis.call('ZADD', KEYS[1], score(fields[3], ARGV[2]), id)
      woke = true
    end
    out[#out + 1] = {{id, attempt, dead and 1 or 0, deliveries}}
  end
end
if woke then redis.call('PUBLISH', ARGV[4], 1) end
return out
"""

CANCEL = """
-- KEYS: ready, delayed   ARGV: prefix, id
local key = ARGV[1] .. ARGV[2]
local state = redis.call('HGET', key, 'state')
if state == 'pending' then
  redis.call('ZREM', KEYS[1], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('DEL', key)
  return 'cancelled'
elseif state == 'active' then
  redis.call('HSET', key, 'cancel', 1)
  return 'requested'
end
return 'not_found'
"""

PURGE = """
-- KEYS: the sets to empty   ARGV: prefix
local count = 0
for _, set in ipairs(KEYS) do
  local ids = redis.call('ZRANGE', set, 0, -1)
  for _, id in ipairs(ids) do
    redis.call('DEL', ARGV[1] .. id)
  end
  count = count + #ids
  redis.call('DEL', set)
end
return count
"""

REQUEUE_DEAD = f"""
{_SCORE}
-- KEYS: ready, dead   ARGV: prefix, now_ms, channel, then ids (none: all)
local ids = {{}}
if #ARGV > 3 then
  for i = 4, #ARGV do
    if redis.call('ZSCORE', KEYS[2], ARGV[i]) then ids[#ids + 1] = ARGV[i] end
  end
else
  ids = redis.call('ZRANGE', KEYS[2], 0, -1)
end
for _, id in ipairs(ids) do
  local key = ARGV[1] .. id
  redis.call('ZREM', KEYS[2], id)
  -- the attempts start again, the deliveries never do (a hash without them: its attempt)
  local fields = redis.call('HMGET', key, 'attempt', 'deliveries', 'prio')
  local deliveries = tonumber(fields[2]) or tonumber(fields[1]) or 0
  redis.call('HSET', key, 'state', 'pending', 'attempt', 0, 'deliveries', deliveries,
             'eta', ARGV[2], 'finished', '')
  redis.call('ZADD', KEYS[1], score(fields[3], ARGV[2]), id)
end
if #ids > 0 then redis.call('PUBLISH', ARGV[3], 1) end
return #ids
"""

CLAIM_TICK = """
-- KEYS: schedule hash, due set   ARGV: name, tick_ms, next_ms ('' for none), data
local fields = redis.call('HMGET', KEYS[1], 'next', 'paused')
if fields[1] == false or fields[2] ~= '0' or fields[1] ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'next', ARGV[3], 'data', ARGV[4])
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
return 1
"""

APPEND_EVENTS = f"""
{_EVENTS_FN}
-- KEYS: event data hash, by-time index, live stream (one hash tag)
-- ARGV: per-task index prefix, ttl_s, stream_maxlen, max_events, events (JSON)
append_events(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], cjson.decode(ARGV[5]))
trim_events(KEYS[1], KEYS[2], ARGV[1], ARGV[4])
return 0
"""

STORE_RESULTS = f"""
{_RESULTS_FN}
-- KEYS: the result keys   ARGV: channel, then per result: task id, record, delivery, ttl_ms
-- Returns 1 (stored) or 0 (a newer delivery's result is kept) per result; the stored ones
-- that can be read are announced in one message, so waiters wake at once.
local out, announced = {{}}, {{}}
for i, key in ipairs(KEYS) do
  local at = 2 + (i - 1) * 4
  local ttl = ARGV[at + 3]
  if store_result(key, ARGV[at + 1], ARGV[at + 2], ttl) then
    out[i] = 1
    if ttl == '' or tonumber(ttl) > 0 then announced[#announced + 1] = ARGV[at] end
  else
    out[i] = 0
  end
end
if #announced > 0 then redis.call('PUBLISH', ARGV[1], table.concat(announced, ' ')) end
return out
"""

COMPLETE = f"""
{_SCORE}
{_EVENTS_FN}
{_RESULTS_FN}
-- Fenced completion: a batch of task outcomes, each applied only under its current lease.
-- KEYS: event data, events by time, event stream
-- ARGV: now_ms, event index prefix, event ttl_s, stream maxlen, max_events, result channel,
--       queues (JSON: [task prefix, ready, delayed, active, dead, wake channel] each),
--       completions (JSON: [queue index, id, token, action, result, events, note, retry_ms]
--       each; result is false or [result key, record, delivery, ttl_ms]; events as the event
--       scripts take them; note is the dead letter's reason or the retry's error)
-- Per completion: the lease is checked, the result stored with the delivery compare (refused:
-- nothing of the completion is applied), the events appended, then ack, dead letter or retry.
-- Returns 1 (applied) or 0 per completion.
local now = tonumber(ARGV[1])
local queues = cjson.decode(ARGV[7])
local out, announced, woken, appended = {{}}, {{}}, {{}}, {{}}
for i, c in ipairs(cjson.decode(ARGV[8])) do
  local q, id = queues[c[1]], c[2]
  local key = q[1] .. id
  local fields = redis.call('HMGET', key, 'state', 'token', 'prio')
  local result = c[5]
  if fields[1] ~= 'active' or fields[2] ~= c[3] then
    out[i] = 0
  elseif result and not store_result(result[1], result[2], result[3], result[4]) then
    out[i] = 0
  else
    if result and (result[4] == '' or tonumber(result[4]) > 0) then
      announced[#announced + 1] = id
    end
    for _, event in ipairs(c[6]) do appended[#appended + 1] = event end
    redis.call('ZREM', q[4], id)
    local action = c[4]
    if action == 'ack' then
      redis.call('DEL', key)
    elseif action == 'dead_letter' then
      redis.call('ZADD', q[5], now, id)
      redis.call('HSET', key, 'state', 'dead', 'token', '', 'lease', '', 'worker', '',
                 'cancel', 0, 'error', c[7], 'finished', now)
    else
      local retry = tonumber(c[8])
      redis.call('HSET', key, 'state', 'pending', 'token', '', 'lease', '', 'worker', '',
                 'cancel', 0, 'error', c[7], 'eta', c[8])
      if retry <= now then
        redis.call('ZADD', q[2], score(fields[3], retry), id)
        woken[q[6]] = true
      else
        redis.call('ZADD', q[3], retry, id)
      end
    end
    out[i] = 1
  end
end
if #appended > 0 then
  append_events(KEYS[1], KEYS[2], KEYS[3], ARGV[2], ARGV[3], ARGV[4], appended)
  trim_events(KEYS[1], KEYS[2], ARGV[2], ARGV[5])
end
if #announced > 0 then redis.call('PUBLISH', ARGV[6], table.concat(announced, ' ')) end
for channel in pairs(woken) do redis.call('PUBLISH', channel, 1) end
return out
"""

PURGE_EVENTS = f"""
{_EVENTS_FN}
-- KEYS: event data hash, by-time index   ARGV: per-task index prefix, before_us, batch
-- Drops up to batch events older than before_us (the oldest first); returns how many.
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[2], 'LIMIT', 0,
                       tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  forget_event(KEYS[1], ARGV[1], id)
  redis.call('ZREM', KEYS[2], id)
end
return #ids
"""
