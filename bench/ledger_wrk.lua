-- wrk script for bench/ledger_bench.py: random ledger transfers over keep-alive HTTP/1.1.
--
-- Configured through the environment (set by ledger_bench.py):
--   BENCH_MODE        single | hot | batch
--   BENCH_ACCOUNTS    file with one account id per line (the no-overdraft accounts)
--   BENCH_HOT         the account every transfer credits in mode "hot"
--   BENCH_TOKEN       operator bearer token
--   BENCH_RUN         prefix that makes this run's Idempotency-Keys unique
--   BENCH_CODE        transfer code (lets the benchmark count this scenario's rows)
--   BENCH_BATCH_SIZE  transfers per request in mode "batch"
--
-- Any response other than 201 is an error, and so is a batch item whose status is not
-- "created". done() prints one line "BENCH_JSON {...}" (and "BENCH_ERROR ..." with the first
-- error seen) for the Python side to parse.

local mode = os.getenv("BENCH_MODE") or "single"
local token = os.getenv("BENCH_TOKEN") or ""
local run = os.getenv("BENCH_RUN") or "run"
local code = os.getenv("BENCH_CODE") or "bench"
local hot = os.getenv("BENCH_HOT")
local batch_size = tonumber(os.getenv("BENCH_BATCH_SIZE") or "1000")

local accounts = {}
for line in io.lines(os.getenv("BENCH_ACCOUNTS")) do
  if #line > 0 then
    accounts[#accounts + 1] = line
  end
end
local n = #accounts

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
  threads[#threads + 1] = thread
end

function init(args)
  math.randomseed(os.time() + 7919 * tid)
  seq = 0
  non201 = 0
  bad_items = 0
  first_error = ""
end

local function transfer(debit, credit)
  return '{"debit_account_id":"' .. debit .. '","credit_account_id":"' .. credit
    .. '","amount":' .. math.random(1, 100) .. ',"currency":"CNY","code":"' .. code .. '"}'
end

local function uniform()
  local d = math.random(n)
  local c = math.random(n - 1)
  if c >= d then
    c = c + 1
  end
  return transfer(accounts[d], accounts[c])
end

function request()
  seq = seq + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = run .. "-" .. tid .. "-" .. seq,
  }
  if mode == "batch" then
    local parts = {}
    for i = 1, batch_size do
      parts[i] = uniform()
    end
    local body = '{"linked":false,"transfers":[' .. table.concat(parts, ",") .. "]}"
    return wrk.format("POST", "/v1/ledger/transfers/batch", headers, body)
  end
  local body
  if mode == "hot" then
    body = transfer(accounts[math.random(n)], hot)
  else
    body = uniform()
  end
  return wrk.format("POST", "/v1/ledger/transfers", headers, body)
end

local function count(haystack, needle)
  local found, start = 0, 1
  while true do
    local i = string.find(haystack, needle, start, true)
    if i == nil then
      return found
    end
    found = found + 1
    start = i + #needle
  end
end

function response(status, headers, body)
  if status ~= 201 then
    non201 = non201 + 1
    if first_error == "" then
      first_error = status .. " " .. string.sub(body or "", 1, 300)
    end
  elseif mode == "batch" then
    local bad = count(body, '"status":"failed"') + count(body, '"status":"replayed"')
    if bad > 0 then
      bad_items = bad_items + bad
      if first_error == "" then
        local i = string.find(body, '"status":"failed"', 1, true) or 1
        first_error = "batch item: " .. string.sub(body, i, i + 300)
      end
    end
  end
end

function done(summary, latency, requests)
  local total_non201, total_bad, err = 0, 0, ""
  for _, thread in ipairs(threads) do
    total_non201 = total_non201 + thread:get("non201")
    total_bad = total_bad + thread:get("bad_items")
    if err == "" then
      err = thread:get("first_error")
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"non201":%d,"bad_items":%d,'
      .. '"connect":%d,"read":%d,"write":%d,"timeout":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, total_non201, total_bad,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean
  ))
  if err ~= "" then
    io.write("BENCH_ERROR " .. string.gsub(err, "\n", " ") .. "\n")
  end
end
