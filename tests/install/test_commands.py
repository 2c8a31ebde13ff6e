"""The shipped install starts what it means to: the image's ENTRYPOINT/CMD from the
`Dockerfile`, combined with each container's `command`/`args` from `examples/install` the way
the kubelet combines them, parsed by the real `aifleet` command line; probes and port names."""

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from function.main import cli

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "examples" / "install"
IMAGE = "ghcr.io/aifleet/function-aifleet"
# What Crossplane puts on the function's Deployment: the `package-runtime` container, with its
# ports named `grpc` (9443) and `metrics` (8080).
CROSSPLANE_PORTS = {"grpc": 9443, "metrics": 8080}
INTENDED = {"package-runtime": "serve", "reconciler": "reconcile"}
IANA_SVC_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$")


def image_exec() -> tuple[list[str], list[str]]:
    """ENTRYPOINT and CMD (exec form) of the Dockerfile's final stage."""
    stages = re.split(r"(?m)^FROM\s", (REPO / "Dockerfile").read_text())
    final = stages[-1]
    found: dict[str, list[str]] = {"ENTRYPOINT": [], "CMD": []}
    for line in final.splitlines():
        instruction, _, rest = line.partition(" ")
        if instruction in found:
            value = json.loads(rest)
            assert isinstance(value, list), f"{instruction} must use the exec (JSON) form"
            found[instruction] = value
    return found["ENTRYPOINT"], found["CMD"]


def pod_containers() -> list[dict[str, Any]]:
    """Every container of every pod template in the install manifests."""
    containers = []
    for path in sorted(INSTALL.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == "DeploymentRuntimeConfig":
                pod = doc["spec"]["deploymentTemplate"]["spec"]["template"]["spec"]
                containers.extend(pod["containers"])
    return containers


def argv(container: dict[str, Any]) -> list[str]:
    """The kubelet's rule: `command` replaces ENTRYPOINT (and drops CMD); `args` replaces CMD."""
    entrypoint, cmd = image_exec()
    if "command" in container:
        return [*container["command"], *container.get("args", [])]
    return [*entrypoint, *container.get("args", cmd)]


def dry_parse(args: list[str]) -> tuple[str, click.Context]:
    """Parse ``aifleet ARGS`` as the process would, up to (not into) the subcommand's body."""
    with cli.make_context("aifleet", list(args)) as ctx:
        name, command, rest = cli.resolve_command(ctx, ctx._protected_args + ctx.args)
        assert name is not None and command is not None
        sub = command.make_context(name, rest, parent=ctx)
    return name, sub


def test_the_console_script_is_the_cli() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["aifleet"] == "function.main:cli"
    entrypoint, _ = image_exec()
    assert entrypoint[0] == "/venv/fn/bin/aifleet"


def test_every_container_starts_its_intended_subcommand(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    containers = pod_containers()
    assert {c["name"] for c in containers} == set(INTENDED)
    for container in containers:
        if container["name"] != "package-runtime":  # Crossplane sets that one's image
            assert container["image"].startswith(IMAGE + ":")
        line = argv(container)
        assert line[0] == "/venv/fn/bin/aifleet", container["name"]
        try:
            name, _ = dry_parse(line[1:])
        except click.UsageError as err:
            pytest.fail(f"{container['name']}: {' '.join(line)}: {err.format_message()}")
        assert name == INTENDED[container["name"]], container["name"]


def test_crossplane_style_args_stay_flags_of_serve() -> None:
    """The args Crossplane's docs give package-runtime parse as serve's own flags."""
    runtime = next(c for c in pod_containers() if c["name"] == "package-runtime")
    name, ctx = dry_parse(argv({**runtime, "args": ["--debug", "--max-recv-message-size=16"]})[1:])
    assert name == "serve"
    assert ctx.params["debug"] is True
    assert ctx.params["max_recv_message_size"] == 16


def test_a_misplaced_flag_is_refused_by_the_parser() -> None:
    """The check above can fail: the old install's line is refused."""
    with pytest.raises(click.UsageError, match="No such option"):
        dry_parse(["--max-recv-message-size=16"])


def test_probes_differ_and_reach_the_probe_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    sidecar = next(c for c in pod_containers() if c["name"] == "reconciler")
    _, ctx = dry_parse(argv(sidecar)[1:])
    probe_port = int(ctx.params["probe_address"].rpartition(":")[2])
    ports = {p["name"]: p["containerPort"] for p in sidecar["ports"]}
    live = sidecar["livenessProbe"]["httpGet"]
    ready = sidecar["readinessProbe"]["httpGet"]
    assert (live["path"], ready["path"]) == ("/livez", "/readyz")
    for probe in (live, ready):
        port = ports[probe["port"]] if isinstance(probe["port"], str) else probe["port"]
        assert port == probe_port


def test_port_names_do_not_collide_with_crossplanes() -> None:
    names = dict(CROSSPLANE_PORTS)
    for container in pod_containers():
        for port in container.get("ports", []):
            assert IANA_SVC_NAME.match(port["name"]), port["name"]
            assert port["name"] not in names, f"port name {port['name']!r} is taken"
            assert port["containerPort"] not in names.values(), port
            names[port["name"]] = port["containerPort"]
