-- POST /token grant_type=refresh_token; each answer's new refresh token is used next
-- (rotation: every token is used exactly once). args: tokens_file nthreads basic_auth
local queue, head, tail
function init(args)
  queue = my_lines(args[1], id, tonumber(args[2]))
  head = 1
  tail = #queue
  wrk.method = "POST"
  wrk.path = "/token"
  wrk.headers["Authorization"] = "Basic " .. args[3]
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end
function request()
  local token = queue[head]
  if token == nil then token = "exhausted" else queue[head] = nil; head = head + 1 end
  return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" .. token)
end
function response(status, headers, body)
  count_status(status, body)
  local token = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
  if token then
    tail = tail + 1
    queue[tail] = token
  end
end
