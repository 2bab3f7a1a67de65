"""The frontier's Lua scripts: each is one atomic step on Redis, so that crawlers that come,
go or die at any point never see a half-done change."""

# Pop the best request and note it in this crawler's in-flight hash, in one step: between the
# two, another crawler could otherwise find the queue empty and nothing in flight. A crawler
# of another run (ARGV[2]), or one the others declared dead (no longer in `workers`), gets
# -2 or -1 and nothing.
POP = """
if redis.call('HGET', KEYS[5], 'run_id') ~= ARGV[2] then return -2 end
if redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 0 then return -1 end
local r = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #r == 0 then return false end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, 0)
local id = r[2] .. ' ' .. redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[2], id, r[1])
return {id, r[1]}
"""

# Put the in-flight requests of crawlers whose heartbeat lapsed back on the queue (ARGV[3]:
# this crawler, when it closes: its own as well).
RECOVER = """
local moved = 0
for _, w in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if w == ARGV[3] or redis.call('EXISTS', ARGV[1] .. w) == 0 then
    local held = redis.call('HGETALL', ARGV[2] .. w)
    for i = 1, #held, 2 do
      local score = string.match(held[i], '^(%S+)')
      redis.call('ZADD', KEYS[1], tonumber(score), held[i + 1])
      moved = moved + 1
    end
    redis.call('DEL', ARGV[2] .. w)
    redis.call('SREM', KEYS[2], w)
  end
end
return moved
"""

# An idle crawler holds nothing: whatever its in-flight hash still lists (a pop whose reply
# was lost on the way) goes back on the queue.
REQUEUE = """
local held = redis.call('HGETALL', KEYS[2])
for i = 1, #held, 2 do
  local score = string.match(held[i], '^(%S+)')
  redis.call('ZADD', KEYS[1], tonumber(score), held[i + 1])
end
redis.call('DEL', KEYS[2])
return #held / 2
"""

# The crawler that claimed the seeding died before it queued the entry points: unclaim.
ORPHANED = """
local seeder = redis.call('HGET', KEYS[1], 'seeded')
if not seeder or seeder == 'done' or redis.call('EXISTS', ARGV[1] .. seeder) == 1 then
  return 0
end
redis.call('HDEL', KEYS[1], 'seeded')
return 1
"""

# Finished: the entry points are queued, nothing is queued and nothing is in flight anywhere.
DONE = """
if redis.call('HGET', KEYS[3], 'done') == '1' then return 1 end
if redis.call('HGET', KEYS[3], 'seeded') ~= 'done' then return 0 end
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
for _, w in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('HLEN', ARGV[1] .. w) > 0 then return 0 end
end
redis.call('HSET', KEYS[3], 'done', '1')
return 1
"""

# One page of a source's budget (KEYS[1] field ARGV[1]) for one spend (ARGV[2]: the response
# and the spend's place in its callback): a request handled again after its crawler died
# gets the answer it got the first time instead of paying twice.
SPEND = """
local known = redis.call('HGET', KEYS[2], ARGV[2])
if known then return tonumber(known) end
local ok = 0
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) >= 0 then ok = 1 end
redis.call('HSET', KEYS[2], ARGV[2], ok)
return ok
"""

# A WordPress listing page (ARGV[2]) of source ARGV[1] is read: the pages still pending,
# counting each page once however often it is handled.
WP_DONE = """
if redis.call('SADD', KEYS[2], ARGV[2]) == 1 then
  return redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
end
return tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
"""

# Queue a request unless the duplicate filter saw it (ARGV[4] = '1': filter it), both in one
# step: a fingerprint in the filter always means the request was queued (a crawler that
# fails between the two would otherwise leave a page marked seen and never crawled).
ENQUEUE = """
if ARGV[4] == '1' and redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
"""

# A URL marked requested (KEYS[1]: URL -> the handling that marked it); requested for the
# asking handling ARGV[2] unless that same handling marked it (it is being handled again).
REQUESTED = """
local by = redis.call('HGET', KEYS[1], ARGV[1])
if by and by ~= ARGV[2] then return 1 end
return 0
"""

# Let go of the ingest lock only if it is still ours.
UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Claim field ARGV[1] of KEYS[1] for ARGV[2] unless another claimed it (the same claimant,
# handling the same thing again, gets it again).
CLAIM = """
local by = redis.call('HGET', KEYS[1], ARGV[1])
if by and by ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

# Let go of field ARGV[1] of KEYS[1] only if it is still ARGV[2]'s.
UNCLAIM = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"""
