-- A request carrying one of a few access tokens in turn.
-- args: tokens_file nthreads method path [basic_auth] [body_prefix] [content_type]
local tokens, i, method, path, basic, prefix, ctype
function init(args)
  tokens = my_lines(args[1], id % 1, 1)
  i = id
  method, path, basic, prefix, ctype = args[3], args[4], args[5], args[6], args[7]
end
function request()
  i = i + 1
  local token = tokens[(i % #tokens) + 1]
  local headers = {}
  if basic and basic ~= "" then
    headers["Authorization"] = "Basic " .. basic
    headers["Content-Type"] = ctype
    return wrk.format(method, path, headers, prefix .. token)
  end
  headers["Authorization"] = "Bearer " .. token
  if prefix and prefix ~= "" then
    headers["Content-Type"] = ctype
    return wrk.format(method, path, headers, prefix)
  end
  return wrk.format(method, path, headers, nil)
end
function response(status, headers, body) count_status(status, body) end
