-- The whole login flow on one connection per thread, a new browser session each time:
-- GET /authorize -> GET /login -> POST /login (CSRF) -> GET /authorize -> POST /token.
-- args: authorize_path basic_auth run redirect_uri verifier patron_count card_prefix password
local step, cookie, location, csrf, rid, code, started, run, n
local authorize_path, basic, redirect_uri, verifier, patrons, prefix, password

local function urlencode(s)
  return (string.gsub(s, "[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local function path_of(url)
  local p = string.match(url, "^https?://[^/]+(/.*)$")
  return p or url
end

local function take_cookie(headers)
  local c = headers["Set-Cookie"] or headers["set-cookie"]
  if c then cookie = string.match(c, "^([^;]+)") end
end

function init(args)
  authorize_path, basic, run, redirect_uri, verifier = args[1], args[2], args[3], args[4], args[5]
  patrons, prefix, password = tonumber(args[6]), args[7], args[8]
  n = 0
  math.randomseed(id * 7919 + 17)
  step = 0
end

local function restart()
  step = 0
  cookie = nil
end

function request()
  if step == 0 then
    cookie = nil
    started = now_us()
    if first_us == 0 then first_us = started end
    n = n + 1
    return wrk.format("GET", authorize_path .. "&nonce=" .. run .. "-" .. id .. "-" .. n, {}, nil)
  end
  local headers = {}
  if cookie then headers["Cookie"] = cookie end
  if step == 1 then
    return wrk.format("GET", location, headers, nil)
  elseif step == 2 then
    local card = prefix .. string.format("%08d", math.random(0, patrons - 1))
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return wrk.format("POST", "/login", headers, "card_number=" .. card .. "&password=" ..
      urlencode(password) .. "&csrf_token=" .. urlencode(csrf) .. "&rid=" .. urlencode(rid))
  elseif step == 3 then
    return wrk.format("GET", location, headers, nil)
  else
    local h = {}
    h["Authorization"] = "Basic " .. basic
    h["Content-Type"] = "application/x-www-form-urlencoded"
    return wrk.format("POST", "/token", h, "grant_type=authorization_code&code=" .. code ..
      "&redirect_uri=" .. urlencode(redirect_uri) .. "&code_verifier=" .. verifier)
  end
end

function response(status, headers, body)
  count_status(status, body)
  take_cookie(headers)
  local loc = headers["Location"] or headers["location"]
  if step == 0 and status == 302 and loc then
    location = path_of(loc)
    rid = string.match(location, "[?&]rid=([^&]+)") or ""
    rid = string.gsub(rid, "%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
    step = 1
  elseif step == 1 and status == 200 then
    csrf = string.match(body, 'name="csrf_token"[^>]-value="([^"]+)"')
    if csrf == nil then restart() else step = 2 end
  elseif step == 2 and status == 302 and loc then
    location = path_of(loc)
    step = 3
  elseif step == 3 and status == 302 and loc then
    code = string.match(loc, "[?&]code=([^&]+)")
    if code == nil then restart() else step = 4 end
  elseif step == 4 and status == 200 then
    record_flow(now_us() - started)
    restart()
  else
    bad = bad + 1
    if bad <= 3 then status_seen = status_seen .. "step" .. step .. ":" .. tostring(status) .. " " end
    restart()
  end
end
