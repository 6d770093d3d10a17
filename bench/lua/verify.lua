-- POST /api/card/verify with a client-credentials token; each card code once (replay
-- memory). args: codes_file nthreads bearer_token
local codes, pos
function init(args)
  codes = my_lines(args[1], id, tonumber(args[2]))
  pos = 0
  wrk.method = "POST"
  wrk.path = "/api/card/verify"
  wrk.headers["Authorization"] = "Bearer " .. args[3]
  wrk.headers["Content-Type"] = "application/json"
end
exhausted = 0
valid = 0
function request()
  mark_sent()
  pos = pos + 1
  local code = codes[pos]
  if code == nil then exhausted = exhausted + 1; code = codes[1] or "0" end
  return wrk.format(nil, nil, nil, '{"code":"' .. code .. '"}')
end
function response(status, headers, body)
  if status == 200 and string.find(body, '"valid":%s*true') then record_ok() else
    count_bad(status, body)
  end
end
