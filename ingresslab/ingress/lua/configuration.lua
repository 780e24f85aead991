-- configuration.lua: the controller's side door into nginx (ingresslab's counterpart of ingress-nginx's
-- rootfs/etc/nginx/lua/configuration.lua, written for this lab).
--
-- nginx.conf routes `location = /configuration/backends` on a unix socket to `backends()`:
--   POST  a JSON list [{"name": "<ns>-<svc>-<port>", "endpoints": [{"address": "10.0.0.1", "port": 8080}]}]
--         (a Gateway's weighted group adds "weights": [{"backend": "<upstream>", "weight": 3}], see balancer.lua)
--         replaces every endpoint list at once (stored raw in the shared dict, a version number is bumped);
--   GET   returns the list nginx is using now (what `kubectl ingress-nginx backends` shows).
-- `location = /configuration/checksum` routes to `checksum()`: the checksum of the nginx.conf these workers loaded.
-- `location = /configuration/state` routes to `state()`: GET returns {"version": n, "backends_md5": "<md5 of the
-- stored list>"}, so the controller can tell cheaply whether the balancer still holds what it pushed (after an
-- nginx restart the shared dict is empty; after a POST by anyone else the md5 differs) and push again.
-- balancer.lua notices the new version on the next request, so endpoint changes need no reload.
-- Neighbours: ingresslab/ingress/nginx.py (NginxProcess.push_endpoints) posts here; balancer.lua reads.

local cjson = require("cjson.safe")

local shared = ngx.shared.ingresslab_backends
local _M = {}

-- The checksum in the header of the nginx.conf being loaded (`# Configuration checksum: <hex>`), read once when
-- nginx loads it (init_by_lua, in the master; workers inherit it; a reload reads it again). `checksum()` answers
-- with it, so the controller knows which config the serving workers run. Read here, not written into a location,
-- so that nginx.conf differs between two configs only where they differ.
local function loaded_checksum()
  local prefix = ngx.config.prefix()
  if prefix:sub(-1) ~= "/" then
    prefix = prefix .. "/"
  end
  local file = io.open(prefix .. "nginx.conf", "r")
  if not file then
    return ""
  end
  for _ = 1, 5 do
    local line = file:read("*l")
    local sum = line and line:match("^# Configuration checksum: (%x+)$")
    if sum or not line then
      file:close()
      return sum or ""
    end
  end
  file:close()
  return ""
end

local loaded = loaded_checksum()

local function read_body()
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if body then
    return body
  end
  local path = ngx.req.get_body_file() -- larger bodies are buffered to a temp file
  if not path then
    return nil
  end
  local file = io.open(path, "rb")
  if not file then
    return nil
  end
  body = file:read("*a")
  file:close()
  return body
end

-- Accept only the shape balancer.lua relies on, so a bad POST cannot break the running balancer.
local function invalid(backends)
  if type(backends) ~= "table" then
    return "the body must be a JSON list of backends"
  end
  for i, backend in ipairs(backends) do
    if type(backend) ~= "table" or type(backend.name) ~= "string" or type(backend.endpoints) ~= "table" then
      return "backend " .. i .. " needs a string name and an endpoints list"
    end
    if backend.weights ~= nil then
      if type(backend.weights) ~= "table" then
        return "backend " .. backend.name .. ": weights must be a list"
      end
      for j, member in ipairs(backend.weights) do
        if type(member) ~= "table" or type(member.backend) ~= "string" or type(member.weight) ~= "number" then
          return "backend " .. backend.name .. ", weight " .. j .. " needs a string backend and a number weight"
        end
      end
    end
    for j, endpoint in ipairs(backend.endpoints) do
      if type(endpoint) ~= "table" or type(endpoint.address) ~= "string" or type(endpoint.port) ~= "number" then
        return "backend " .. backend.name .. ", endpoint " .. j .. " needs a string address and a number port"
      end
    end
  end
  return nil
end

local function answer(status, text)
  ngx.status = status
  ngx.header.content_type = "text/plain"
  ngx.say(text)
  return ngx.exit(ngx.HTTP_OK)
end

function _M.backends()
  local method = ngx.req.get_method()
  if method == "GET" then
    ngx.header.content_type = "application/json"
    ngx.print(shared:get("backends") or "[]")
    return
  end
  if method ~= "POST" then
    return answer(ngx.HTTP_NOT_ALLOWED, "use GET or POST")
  end
  local body = read_body()
  if not body then
    return answer(ngx.HTTP_BAD_REQUEST, "empty body")
  end
  local backends, err = cjson.decode(body)
  local problem = err and ("invalid JSON: " .. err) or invalid(backends)
  if problem then
    return answer(ngx.HTTP_BAD_REQUEST, problem)
  end
  local ok, set_err = shared:set("backends", body)
  if ok then
    ok, set_err = shared:set("backends_md5", ngx.md5(body))
  end
  if not ok then
    shared:delete("backends_md5") -- never claim a list we could not store
    return answer(ngx.HTTP_INTERNAL_SERVER_ERROR, "could not store the backends: " .. tostring(set_err))
  end
  local version = shared:incr("version", 1, 0)
  return answer(ngx.HTTP_CREATED, "version " .. tostring(version))
end

function _M.checksum()
  ngx.header.content_type = "text/plain"
  ngx.print(loaded)
end

function _M.state()
  if ngx.req.get_method() ~= "GET" then
    return answer(ngx.HTTP_NOT_ALLOWED, "use GET")
  end
  ngx.header.content_type = "application/json"
  ngx.print(cjson.encode({version = shared:get("version") or 0, backends_md5 = shared:get("backends_md5") or ""}))
end

return _M
