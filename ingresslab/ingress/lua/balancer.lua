-- balancer.lua: picks the endpoint for each request (ingresslab's counterpart of ingress-nginx's
-- rootfs/etc/nginx/lua/balancer.lua, written for this lab; round robin only).
--
-- nginx.conf has a single `upstream upstream_balancer` whose `balancer_by_lua_block` calls `balance()`.
-- Each location first sets $proxy_upstream_name ("<ns>-<svc>-<port>") and calls `rewrite()`, which answers 503
-- when that Service has no endpoints, as ingress-nginx does. Endpoint lists come from the shared dict that
-- configuration.lua fills; each worker re-reads them when the version number there changes (checked on every
-- request: one shared-memory read), so the first request after a POST already sees the new endpoints.

local ngx_balancer = require("ngx.balancer")
local cjson = require("cjson.safe")

local shared = ngx.shared.ingresslab_backends
local _M = {}

local peers = {}  -- upstream name -> list of {address = "ip", port = n}
local turn = {}   -- upstream name -> index of the peer used last (round robin, per worker)
local synced_version = false

local function sync()
  local version = shared:get("version")
  if version == synced_version then
    return
  end
  local backends = cjson.decode(shared:get("backends") or "[]")
  local fresh = {}
  if type(backends) == "table" then
    for _, backend in ipairs(backends) do
      fresh[backend.name] = backend.endpoints
    end
  end
  peers = fresh
  synced_version = version
end

local function endpoints_of(name)
  sync()
  local list = peers[name]
  if list == nil or #list == 0 then
    return nil
  end
  return list
end

function _M.rewrite()
  local name = ngx.var.proxy_upstream_name
  if not endpoints_of(name) then
    ngx.log(ngx.WARN, "no endpoints for upstream ", name, ": answering 503")
    return ngx.exit(ngx.HTTP_SERVICE_UNAVAILABLE)
  end
end

function _M.balance()
  local name = ngx.var.proxy_upstream_name
  local list = endpoints_of(name)
  if not list then
    return ngx.exit(ngx.HTTP_SERVICE_UNAVAILABLE)
  end
  local index = (turn[name] or 0) % #list + 1
  turn[name] = index
  local peer = list[index]
  local ok, err = ngx_balancer.set_current_peer(peer.address, peer.port)
  if not ok then
    ngx.log(ngx.ERR, "cannot use peer ", peer.address, ":", peer.port, " for ", name, ": ", err)
    return ngx.exit(ngx.ERROR)
  end
end

return _M
