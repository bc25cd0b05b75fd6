-- wrk script for scripts/bench/scale.sh: every request carries the cookie of a pre-loaded
-- session, a random one of the file SCALE_COOKIES ("many"), or always its first ("hot"), and a
-- browser's User-Agent (SCALE_USER_AGENT, the one the loader recorded). Prints one line of
-- results that the driver parses.
local cookies = {}
local hot = os.getenv("SCALE_WORKLOAD") == "hot"
local user_agent = os.getenv("SCALE_USER_AGENT")

function init(args)
    for line in io.lines(os.getenv("SCALE_COOKIES")) do
        cookies[#cookies + 1] = "session=" .. line
    end
    -- Threads start together: seed each from its own address too, so they draw apart.
    math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 1000003)
end

function request()
    local cookie = hot and cookies[1] or cookies[math.random(#cookies)]
    return wrk.format(nil, nil, { ["Cookie"] = cookie, ["User-Agent"] = user_agent })
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("SCALE requests=%d seconds=%.3f p50_us=%d p99_us=%d errors=%d non2xx=%d\n",
        summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
        e.connect + e.read + e.write + e.timeout, e.status))
end
