-- A ClusterProfile validateHealths script, in addon-controller's test layout
-- (lua_policy.lua, valid_resource.yaml, invalid_resource.yaml): `obj` is one Deployment of
-- the add-on (Kyverno's, in Sveltos' documentation); it is healthy once every requested
-- replica is available.
function evaluate(obj)
  local hs = {healthy = false, message = "available replicas not matching requested replicas"}
  local status = obj.status
  if status ~= nil and status.availableReplicas ~= nil
      and status.availableReplicas == obj.spec.replicas then
    hs.healthy = true
    hs.message = ""
  end
  return hs
end
