-- GET /authorize with a signed-in session; the code of every redirect is appended to a
-- per-thread file (each request with its own nonce). args: authorize_path cookie out_prefix run
local out, base, run, n
function init(args)
  base = args[1]
  wrk.headers["Cookie"] = args[2]
  out = io.open(args[3] .. "." .. id, "w")
  run = args[4]
  n = 0
end
function request()
  n = n + 1
  return wrk.format("GET", base .. "&nonce=" .. run .. "-" .. id .. "-" .. n, nil, nil)
end
function response(status, headers, body)
  local loc = headers["Location"] or headers["location"] or ""
  local code = string.match(loc, "[?&]code=([^&]+)")
  if code then
    ok = ok + 1
    out:write(code, "\n")
    out:flush()
  else
    bad = bad + 1
    if bad <= 3 then status_seen = status_seen .. tostring(status) .. " " end
  end
end
