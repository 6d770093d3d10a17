-- POST /token grant_type=authorization_code, each harvested code once.
-- args: codes_file nthreads basic_auth redirect_uri verifier
local codes, pos
function init(args)
  codes = my_lines(args[1], id, tonumber(args[2]))
  pos = 0
  wrk.method = "POST"
  wrk.path = "/token"
  wrk.headers["Authorization"] = "Basic " .. args[3]
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  redirect_uri = args[4]
  verifier = args[5]
end
exhausted = 0
function request()
  mark_sent()
  pos = pos + 1
  local code = codes[pos]
  if code == nil then exhausted = exhausted + 1; code = "exhausted" end
  return wrk.format(nil, nil, nil, "grant_type=authorization_code&code=" .. code ..
    "&redirect_uri=" .. redirect_uri .. "&code_verifier=" .. verifier)
end
function response(status, headers, body)
  if status == 200 then record_ok() else count_bad(status, body) end
end
