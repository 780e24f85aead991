-- gateway.lua: the Gateway API data plane's dispatcher (written for this lab).
--
-- Each Gateway server in nginx.conf has one `location /` whose rewrite phase calls `route("<server id>")`.
-- The server's matches come from the route table that ingresslab/gateway/render.py writes into nginx.conf itself,
-- as JSON cut over lines `# gateway-routes: ...` (JSON-escaped: printable ASCII only, so it cannot end
-- the comment; nginx allows at most 4 KiB per comment, so render.py cuts every 1 KiB and this file rejoins).
-- It is read here when nginx loads the file (init_by_lua, in the master; a reload reads it again), like the
-- checksum configuration.lua reads. The matches are already in the spec's precedence order, so the first that
-- fits wins; then the rule's filters run in the spec's sense:
--   RequestHeaderModifier (set / add, comma-joined / remove), RequestRedirect (ngx.redirect with the rule's code,
--   default 302; the port is dropped when it is the scheme's own), URLRewrite (Host and/or path; the path goes
--   upstream escaped by nginx), ResponseHeaderModifier (in the header filter), RequestMirror (a `mirror` subrequest
--   that `mirror()` sends to the mirror's upstream, whose answer is dropped).
-- Finally balancer.lua picks the backend of the rule's weighted group (500 for an invalid backendRef's share)
-- and the endpoint. No match: 404.
-- Neighbours: ingresslab/gateway/render.py (writes the table and the locations), ingresslab/gateway/precedence.py
-- (the same matching in Python: the reference the tests compare with), ingresslab/ingress/lua/balancer.lua.

local cjson = require("cjson.safe")
local balancer = require("balancer")

local _M = {}

local servers = {}

local function load()
  local prefix = ngx.config.prefix()
  if prefix:sub(-1) ~= "/" then
    prefix = prefix .. "/"
  end
  local file = io.open(prefix .. "nginx.conf", "r")
  if not file then
    return
  end
  local parts = {}
  for line in file:lines() do
    local text = line:match("^# gateway%-routes: (.*)$")
    if text then
      parts[#parts + 1] = text
    elseif #parts > 0 then
      break
    end
  end
  file:close()
  local table_ = cjson.decode(table.concat(parts))
  if type(table_) == "table" and type(table_.servers) == "table" then
    servers = table_.servers
  end
end

load()

local function prefix_matches(value, path)
  local prefix = value:gsub("/+$", "")
  if prefix == "" then
    return path:sub(1, 1) == "/"
  end
  return path == prefix or path:sub(1, #prefix + 1) == prefix .. "/"
end

local function path_matches(match, path)
  if match.path_type == "Exact" then
    return path == match.path
  elseif match.path_type == "PathPrefix" then
    return prefix_matches(match.path, path)
  end
  return ngx.re.find(path, "^(?:" .. match.path .. ")$", "jo") ~= nil
end

local function first(value)
  if type(value) == "table" then
    value = value[1]
  end
  if value == true then
    return ""
  end
  return value
end

local function value_matches(m, actual)
  actual = first(actual)
  if type(actual) ~= "string" then
    return false
  end
  if m.type == "Exact" then
    return actual == m.value
  end
  return ngx.re.find(actual, m.value, "jo") ~= nil
end

local function matches(match, path, method, headers, args)
  if not path_matches(match, path) then
    return false
  end
  if match.method and match.method ~= method then
    return false
  end
  for _, h in ipairs(match.headers) do
    if not value_matches(h, headers[h.name]) then   -- get_headers() looks names up case-insensitively
      return false
    end
  end
  for _, q in ipairs(match.query) do
    if not value_matches(q, args[q.name]) then
      return false
    end
  end
  return true
end

-- A decoded path made safe for a Location header or the upstream request line: everything outside the URL
-- characters the spec allows in paths is %-escaped (so `%` itself, spaces and non-ASCII bytes are).
local function escape_path(path)
  return (path:gsub("[^%w%-%._~!%$&'%(%)%*%+,;=:@/]", function(c)
    return string.format("%%%02X", c:byte())
  end))
end

local function new_path(change, action, path)
  if not change then
    return path
  end
  if change.type == "ReplaceFullPath" then
    return change.value
  end
  local prefix = (action.prefix or ""):gsub("/+$", "")
  local rest = path:sub(#prefix + 1)
  local result = change.value:gsub("/+$", "") .. rest
  if result == "" then
    return "/"
  end
  return result
end

local WELL_KNOWN = {http = 80, https = 443}

local function redirect(r, action, spec_port)
  local scheme = r.scheme or ngx.var.scheme
  local port = r.port
  if port == nil and r.scheme == nil then
    port = spec_port
  end
  if port == WELL_KNOWN[scheme] then
    port = nil
  end
  local url = scheme .. "://" .. (r.hostname or ngx.var.host) .. (port and (":" .. port) or "")
      .. escape_path(new_path(r.path, action, ngx.var.uri))
  local args = ngx.var.args
  if args and args ~= "" then
    url = url .. "?" .. args
  end
  return ngx.redirect(url, r.status_code)
end

local function request_headers(changes)
  for _, pair in ipairs(changes.set) do
    ngx.req.set_header(pair[1], pair[2])
  end
  for _, pair in ipairs(changes.add) do
    local existing = first(ngx.req.get_headers()[pair[1]])
    ngx.req.set_header(pair[1], existing and (existing .. "," .. pair[2]) or pair[2])
  end
  for _, name in ipairs(changes.remove) do
    ngx.req.clear_header(name)
  end
end

function _M.route(id)
  local server = servers[id]
  local path, method = ngx.var.uri, ngx.req.get_method()
  local headers, args = ngx.req.get_headers(), ngx.req.get_uri_args()
  local chosen
  for _, match in ipairs(server and server.matches or {}) do
    if matches(match, path, method, headers, args) then
      chosen = match
      break
    end
  end
  if not chosen then
    return ngx.exit(ngx.HTTP_NOT_FOUND)
  end
  local action = chosen.action
  if action.request_headers then
    request_headers(action.request_headers)
  end
  ngx.ctx.gateway_response = action.response_headers
  if action.redirect then
    return redirect(action.redirect, action, server.port)
  end
  if action.mirror then
    ngx.var.gateway_mirror = action.mirror
  end
  if action.rewrite then
    if action.rewrite.hostname then
      ngx.req.set_header("Host", action.rewrite.hostname)
    end
    if action.rewrite.path then
      ngx.req.set_uri(new_path(action.rewrite.path, action, path), false)   -- nginx escapes it upstream
    end
  end
  ngx.var.proxy_upstream_name = action.group or "-"
  if not action.group then
    return ngx.exit(ngx.HTTP_INTERNAL_SERVER_ERROR)
  end
  return balancer.rewrite(action.group)
end

function _M.response()
  local changes = ngx.ctx.gateway_response
  if not changes then
    return
  end
  for _, pair in ipairs(changes.set) do
    ngx.header[pair[1]] = pair[2]
  end
  for _, pair in ipairs(changes.add) do
    local existing = first(ngx.header[pair[1]])
    ngx.header[pair[1]] = existing and (existing .. "," .. pair[2]) or pair[2]
  end
  for _, name in ipairs(changes.remove) do
    ngx.header[name] = nil
  end
end

-- The `mirror` subrequest: to the mirror upstream the parent chose, or nothing (204) when its rule has none.
function _M.mirror()
  local name = ngx.var.gateway_mirror
  if name == nil or name == "" then
    return ngx.exit(204)
  end
  return balancer.rewrite(name)
end

return _M
