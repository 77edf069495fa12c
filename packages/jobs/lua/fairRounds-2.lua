-- Hands out BullMQ priorities ("rounds") for a page of jobs of one batch or of the interactive
-- lane: start-time fair queuing, `weight` consecutive jobs per round (see fair-share.ts).
-- KEYS: the queue's fair-share hash (epoch, clock = the current round, clamped = jobs clamped to
-- the BullMQ limit), the tag state's hash (a batch hash, or the queue's interactive lane hash)
-- holding fairEpoch, fairRound (the last round given out) and fairUsed (jobs given in it).
-- ARGV: count, weight, head round (the priority at the head of the prioritized set; 0 = the set
-- is empty, which starts a new epoch: rounds restart at 1), the highest round BullMQ accepts,
-- '1' when the tag state's hash must already exist (a batch: never recreate a removed one).
-- Returns {first round, jobs already given in that round, jobs clamped to the highest round, epoch}.
local count = tonumber(ARGV[1])
local weight = tonumber(ARGV[2])
local head = tonumber(ARGV[3])
local maxRound = tonumber(ARGV[4])

local epoch
local clock
if head == 0 then
  epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
  clock = 1
else
  local queue = redis.call('HMGET', KEYS[1], 'epoch', 'clock')
  epoch = tonumber(queue[1] or '0')
  -- A retried job keeps its older, lower round: the clock never goes back within an epoch.
  clock = math.max(tonumber(queue[2] or '1'), head)
end
redis.call('HSET', KEYS[1], 'clock', clock)

local round = clock
local used = 0
local state = redis.call('HMGET', KEYS[2], 'fairEpoch', 'fairRound', 'fairUsed')
if tonumber(state[1]) == epoch and state[2] then
  local last = tonumber(state[2])
  local lastUsed = tonumber(state[3] or '0')
  if lastUsed >= weight then
    last = last + 1
    lastUsed = 0
  end
  if last >= clock then
    round = last
    used = lastUsed
  end
end

local total = used + count
local lastRound = round + math.floor((total - 1) / weight)
local lastUsed = (total - 1) % weight + 1
-- Jobs whose round would pass the limit: from the first one past it to the end of the page.
local fitting = math.max((maxRound - round + 1) * weight - used, 0)
local clamped = math.max(count - fitting, 0)
if clamped > 0 then
  redis.call('HINCRBY', KEYS[1], 'clamped', clamped)
  lastRound = maxRound
  lastUsed = weight
end

if ARGV[5] ~= '1' or redis.call('HEXISTS', KEYS[2], 'state') == 1 then
  redis.call('HSET', KEYS[2], 'fairEpoch', epoch, 'fairRound', lastRound, 'fairUsed', lastUsed)
end
return {round, used, clamped, epoch}
