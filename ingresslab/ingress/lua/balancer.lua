-- balancer.lua: picks the endpoint for each request (ingresslab's counterpart of ingress-nginx's
-- rootfs/etc/nginx/lua/balancer.lua, written for this lab; round robin only).
--
-- nginx.conf has a single `upstream upstream_balancer` whose `balancer_by_lua_block` calls `balance()`.
-- Each location first sets $proxy_upstream_name ("<ns>-<svc>-<port>") and calls `rewrite()`, which answers 503
-- when that Service has no endpoints, as ingress-nginx does. Endpoint lists come from the shared dict that
-- configuration.lua fills; each worker re-reads them when the version number there changes (checked on every
-- request: one shared-memory read), so the first request after a POST already sees the new endpoints.
--
-- Weighted groups (Gateway API backendRefs): an entry may carry `weights` = [{"backend": "<upstream>", "weight": n}]
-- instead of endpoints. `rewrite(name)` then picks one member by smooth weighted round robin (nginx's own
-- algorithm, per worker: shares are exact over each cycle), and the endpoint within it by round robin. A member
-- whose backend is "" stands for an invalid backendRef: its share of requests gets 500, as does a group whose
-- weights are all 0. Weights arrive like endpoints, so changing them needs no reload. The chosen upstream is kept
-- in ngx.ctx (per request and per subrequest, so a mirror subrequest does not disturb its parent).

local ngx_balancer = require("ngx.balancer")
local cjson = require("cjson.safe")

local shared = ngx.shared.ingresslab_backends
local _M = {}

local peers = {}  -- upstream name -> list of {address = "ip", port = n}
local groups = {} -- group name -> list of {backend = "<upstream>" or "", weight = n, current = n}
local turn = {}   -- upstream name -> index of the peer used last (round robin, per worker)
local synced_version = false

local function sync()
  local version = shared:get("version")
  if version == synced_version then
    return
  end
  local backends = cjson.decode(shared:get("backends") or "[]")
  local fresh = {}
  local fresh_groups = {}
  if type(backends) == "table" then
    for _, backend in ipairs(backends) do
      fresh[backend.name] = backend.endpoints
      if type(backend.weights) == "table" then
        local members = {}
        for _, member in ipairs(backend.weights) do
          if type(member) == "table" and type(member.weight) == "number" and member.weight > 0 then
            members[#members + 1] = {backend = tostring(member.backend or ""), weight = member.weight, current = 0}
          end
        end
        fresh_groups[backend.name] = members
      end
    end
  end
  peers = fresh
  groups = fresh_groups
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

-- Smooth weighted round robin: every member gains its weight, the richest is chosen and pays the total.
local function pick(members)
  local total, best = 0, nil
  for _, member in ipairs(members) do
    member.current = member.current + member.weight
    total = total + member.weight
    if best == nil or member.current > best.current then
      best = member
    end
  end
  if best == nil then
    return nil
  end
  best.current = best.current - total
  return best.backend
end

-- `name` defaults to $proxy_upstream_name (Ingress locations); the Gateway dispatcher passes its group's name.
function _M.rewrite(name)
  name = name or ngx.var.proxy_upstream_name
  sync()
  local members = groups[name]
  if members ~= nil then
    local chosen = pick(members)
    if chosen == nil or chosen == "" then
      ngx.log(ngx.WARN, "group ", name, chosen == nil and " has no backend with a weight" or
              " chose an invalid backendRef", ": answering 500")
      return ngx.exit(ngx.HTTP_INTERNAL_SERVER_ERROR)
    end
    name = chosen
  end
  if not endpoints_of(name) then
    ngx.log(ngx.WARN, "no endpoints for upstream ", name, ": answering 503")
    return ngx.exit(ngx.HTTP_SERVICE_UNAVAILABLE)
  end
  ngx.ctx.balancer_upstream = name
end

function _M.balance()
  local name = ngx.ctx.balancer_upstream or ngx.var.proxy_upstream_name
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
