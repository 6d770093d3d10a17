-- GET one path (wrk.path); args: path [header value]
function init(args)
  wrk.path = args[1]
  if args[2] then wrk.headers[args[2]] = args[3] end
end
function response(status, headers, body) count_status(status, body) end
