"""`make package`'s two roots checked against `crossplane xpkg build`'s rules: crossplane.yaml
at the root, one meta object, only the kinds its package kind allows, every YAML file parsed,
no examples root taken in unless valid; dependencies and version constraints that match what
the packages contain and use."""

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from function.packaging import CONSTRAINT, PackageError, assemble, check_root, documents

REPO = Path(__file__).resolve().parents[2]
FUNCTION_PACKAGE = "ghcr.io/aifleet/function-aifleet"
# The Crossplane providers a Composition needs, by the delivery mode of its aifleet step and
# by the provider family of its XRs (Cluster API is no Crossplane provider).
PROVIDERS_BY_DELIVERY = {
    "crossplane": {
        "xpkg.crossplane.io/crossplane-contrib/provider-helm",
        "xpkg.crossplane.io/crossplane-contrib/provider-kubernetes",
    },
    "reconciler": set(),
    "sveltos": set(),
}
PROVIDERS_BY_FAMILY: dict[str, set[str]] = {"capi": set()}
# The first Crossplane release that reads each meta field a package uses.
SINCE = {"meta.pkg.crossplane.io/v1": (1, 17), "spec.capabilities": (2, 0), "v2 XRD": (2, 0)}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("package")
    return {p.kind: p.root for p in assemble(REPO, out)}


def load(path: Path) -> dict:
    doc: dict = yaml.safe_load(path.read_text())
    return doc


def minimum(constraint: str) -> tuple[int, int]:
    match = re.fullmatch(r">=\s*v?(\d+)\.(\d+)\.\d+", constraint.strip())
    assert match, f"{constraint!r}: state a plain lower bound (>=vX.Y.Z)"
    return int(match[1]), int(match[2])


def test_make_package_writes_both_roots(tmp_path: Path) -> None:
    repo = tmp_path / "clone"
    shutil.copytree(
        REPO, repo, ignore=shutil.ignore_patterns(".venv", "_output", ".*cache", ".git")
    )
    result = subprocess.run(
        [sys.executable, "-m", "function.packaging", "_output/package"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Function package root: _output/package/function" in result.stdout
    assert "Configuration package root: _output/package/configuration" in result.stdout
    make = (REPO / "Makefile").read_text()
    assert re.search(r"^package: .*\n\t\$\(PY\) -m function\.packaging ", make, re.M)


def test_the_function_root(built: dict[str, Path]) -> None:
    root = built["Function"]
    files = {p.relative_to(root).as_posix() for p in root.rglob("*.yaml")}
    assert "crossplane.yaml" in files
    crds = {load(root / f)["spec"]["names"]["kind"] for f in files if f != "crossplane.yaml"}
    assert {"Input", "AddonBundle", "EventSource", "EventTrigger"} <= crds
    assert not (root / "examples").exists()


def test_the_configuration_root_holds_the_v2_apis(built: dict[str, Path]) -> None:
    root = built["Configuration"]
    kinds = {}
    for path in root.rglob("*.yaml"):
        doc = load(path)
        kinds.setdefault(doc["kind"], set()).add(doc["metadata"]["name"])
    xrds = {load(p)["metadata"]["name"] for p in (REPO / "xrds").glob("*.yaml")}
    comps = {
        load(p)["metadata"]["name"]
        for p in (REPO / "compositions").glob("*.yaml")
        if not p.name.endswith("-legacy.yaml")
    }
    assert kinds == {
        "Configuration": {"configuration-aifleet"},
        "CompositeResourceDefinition": xrds,
        "Composition": comps,
    }
    assert all(load(p)["apiVersion"].endswith("/v2") for p in (root / "xrds").glob("*.yaml"))


def test_the_configuration_depends_on_what_its_compositions_need(built: dict[str, Path]) -> None:
    root = built["Configuration"]
    meta = load(root / "crossplane.yaml")
    needed = {FUNCTION_PACKAGE}
    for path in (root / "compositions").glob("*.yaml"):
        comp = load(path)
        needed |= PROVIDERS_BY_FAMILY[comp["metadata"]["labels"]["provider"]]
        for step in comp["spec"]["pipeline"]:
            assert step["functionRef"]["name"] == "function-aifleet"
            needed |= PROVIDERS_BY_DELIVERY[step["input"].get("delivery", "reconciler")]
    deps = {d["package"]: d for d in meta["spec"]["dependsOn"]}
    assert set(deps) == needed
    function = deps[FUNCTION_PACKAGE]
    assert function["kind"] == "Function"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert minimum(function["version"]) <= tuple(int(x) for x in project.split(".")[:2])
    install = load(REPO / "examples" / "install" / "function.yaml")
    assert install["spec"]["package"].startswith(FUNCTION_PACKAGE + ":")


@pytest.mark.parametrize("kind", ["Function", "Configuration"])
def test_the_crossplane_constraint_admits_no_release_lacking_a_field_used(
    built: dict[str, Path], kind: str
) -> None:
    root = built[kind]
    meta = load(root / "crossplane.yaml")
    used = [meta["apiVersion"]]
    if "capabilities" in meta["spec"]:
        used.append("spec.capabilities")
    if any(load(p)["apiVersion"] == "apiextensions.crossplane.io/v2" for p in root.rglob("*.yaml")):
        used.append("v2 XRD")
    floor = max(SINCE[u] for u in used)
    assert minimum(meta["spec"]["crossplane"]["version"]) >= floor, used


@pytest.mark.parametrize(
    ("constraint", "valid"),
    [(">=v2.0.0", True), ("^v1.2", True), (">=1.17, <3", True), ("latest", False), ("", False)],
)
def test_version_constraints_are_read_as_crossplane_reads_them(
    constraint: str, valid: bool
) -> None:
    assert bool(CONSTRAINT.match(constraint)) is valid


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


FUNCTION_META = "apiVersion: meta.pkg.crossplane.io/v1\nkind: Function\nmetadata: {name: f}\n"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "no crossplane.yaml at the package root"),
        (
            {
                "crds/xrd.yaml": "apiVersion: apiextensions.crossplane.io/v2\n"
                "kind: CompositeResourceDefinition\nmetadata: {name: x}\n"
            },
            r"crds/xrd.yaml: a CompositeResourceDefinition may not be in a Function package",
        ),
        (
            {"examples/chart/templates/t.yaml": "{{ if .Values.x }}\nkind: A\n{{ end }}\n"},
            r"examples/chart/templates/t.yaml: (not YAML|document 1 is not an object)",
        ),
        (
            {"other/crossplane.yaml": FUNCTION_META},
            r"other/crossplane.yaml: a second meta object \(Function\)",
        ),
        ({"notes.yaml": "just: a map\n"}, "notes.yaml: document 1 is not an object"),
    ],
)
def test_each_xpkg_rule_is_enforced(tmp_path: Path, files: dict[str, str], message: str) -> None:
    if files:
        write(tmp_path / "crossplane.yaml", FUNCTION_META)
    for name, text in files.items():
        write(tmp_path / name, text)
    with pytest.raises(PackageError, match=message):
        check_root(tmp_path)


def test_the_repository_root_is_no_package_root() -> None:
    """What `xpkg build` would have taken in from here: examples/ holds Helm templates."""
    with pytest.raises(PackageError, match=r"examples/.*(not YAML|is not an object)"):
        for path in sorted((REPO / "examples").rglob("*.yaml")):
            documents(path)


def test_bad_dependencies_are_refused(tmp_path: Path) -> None:
    write(
        tmp_path / "crossplane.yaml",
        "apiVersion: meta.pkg.crossplane.io/v1\nkind: Configuration\nmetadata: {name: c}\n"
        "spec:\n  dependsOn:\n  - {apiVersion: pkg.crossplane.io/v1, kind: Function,"
        " package: 'ghcr.io/a/b:v1', version: '>=v0.1.0'}\n",
    )
    with pytest.raises(PackageError, match=r"dependsOn\[0\]: 'ghcr.io/a/b:v1' is not a fully"):
        check_root(tmp_path)
