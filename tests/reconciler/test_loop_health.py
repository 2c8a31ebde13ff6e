"""Lua health rules on the emulator: an add-on waits for its rule, a bad rule fails alone."""

from pathlib import Path

from tests.reconciler.harness import (
    addon_phases,
    bundle,
    capi_cluster,
    configmap_addon,
    is_ready,
    running,
)

GATE = """
function evaluate()
  local hs = {resources = {}}
  for _, r in ipairs(resources) do
    local status = "Progressing"
    if r.data ~= nil and r.data.ready == "true" then status = "Healthy" end
    table.insert(hs.resources, {resource = r, status = status, message = "waiting for ready=true"})
  end
  return hs
end
"""


async def test_an_addon_waits_for_its_lua_rule_and_its_dependants_with_it(tmp_path: Path) -> None:
    gated = {**configmap_addon("gated"), "health": {"builtin": False, "lua": GATE}}
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(
            bundle("stack", [gated, configmap_addon("after", "gated")]), field_manager="test"
        )
        got = await h.wait_bundle("stack", lambda b: addon_phases(b).get("gated") == "Waiting")
        assert addon_phases(got)["after"] == "Pending"
        status = got["status"]["clusters"][0]["addons"][0]
        assert status["message"] == "ConfigMap apps/gated: waiting for ready=true"

        workload = h.workload("c1")
        workload.patch(
            "v1",
            "ConfigMap",
            "gated",
            {"data": {"ready": "true"}},
            namespace="apps",
            field_manager="operator",
        )
        got = await h.wait_bundle("stack", is_ready)
        assert addon_phases(got) == {"gated": "Healthy", "after": "Healthy"}


async def test_a_broken_lua_rule_fails_its_addon_before_anything_is_applied(tmp_path: Path) -> None:
    broken = {
        **configmap_addon("broken"),
        "health": {"lua": "function evaluate()\n  return {resources = }\nend\n"},
    }
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", [broken, configmap_addon("other")]), field_manager="test")
        got = await h.wait_bundle(
            "stack", lambda b: addon_phases(b) == {"broken": "Failed", "other": "Healthy"}
        )
        message = got["status"]["clusters"][0]["addons"][0]["message"]
        assert message.startswith("add-on 'broken', health.lua:2: ")
        assert h.workload("c1").find("v1", "ConfigMap", "broken", "apps") is None


async def test_a_lua_rule_that_fails_at_run_time_fails_the_addon(tmp_path: Path) -> None:
    failing = {
        **configmap_addon("failing"),
        "health": {"lua": "function evaluate()\n  local x = nil\n  return x.y\nend\n"},
    }
    async with running(tmp_path) as h:
        h.mgmt.apply(capi_cluster("c1"), field_manager="test")
        h.mgmt.apply(bundle("stack", [failing]), field_manager="test")
        got = await h.wait_bundle("stack", lambda b: addon_phases(b) == {"failing": "Failed"})
        message = got["status"]["clusters"][0]["addons"][0]["message"]
        assert message.startswith("add-on 'failing', health.lua:3: ")
