"""The two Crossplane packages, assembled into roots `crossplane xpkg build` accepts as run.

`crossplane xpkg build` parses every YAML file under its package root (``.`` by default) and
every one under its examples root (``./examples`` of the working directory by default), so
the repository itself is no package root: its ``examples/`` holds Helm templates that are not
YAML. `assemble` copies what each package ships into a root of its own — the Function package
(``package/``: its meta file and CRDs) and the Configuration package (``configuration/``'s meta
file, the v2 XRDs of ``xrds/`` and the Compositions of ``compositions/``) — with no
``examples/`` in either, so ``cd <root> && crossplane xpkg build`` takes in nothing else.
`check_root` applies the rules xpkg applies to a root and names the file of each violation;
``python -m function.packaging OUT`` assembles and checks (``make package``).
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

META_GROUP = "meta.pkg.crossplane.io"
META_FILE = "crossplane.yaml"
EXAMPLES = "examples"
# What may accompany a package's meta file, by the meta kind (xpkg's linters).
ALLOWED: dict[str, frozenset[tuple[str, str]]] = {
    "Function": frozenset({("apiextensions.k8s.io", "CustomResourceDefinition")}),
    "Provider": frozenset({("apiextensions.k8s.io", "CustomResourceDefinition")}),
    "Configuration": frozenset(
        {
            ("apiextensions.crossplane.io", "CompositeResourceDefinition"),
            ("apiextensions.crossplane.io", "Composition"),
        }
    ),
}
# Masterminds semver constraints, as Crossplane reads `version` fields.
_VERSION = r"v?\d+(\.(\d+|[xX*]))?(\.(\d+|[xX*]))?(-[0-9A-Za-z.-]+)?"
_COMPARISON = rf"(=|!=|>=|<=|>|<|~>?|\^)?\s*{_VERSION}"
CONSTRAINT = re.compile(
    rf"^\s*{_COMPARISON}(\s*,?\s*{_COMPARISON})*(\s*\|\|\s*{_COMPARISON}(\s*,?\s*{_COMPARISON})*)*\s*$"
)
PACKAGE_REF = re.compile(r"^[a-z0-9.-]+(:\d+)?/[a-z0-9._/-]+$")


class PackageError(Exception):
    """A package root breaks a rule of `crossplane xpkg build`."""


@dataclass(frozen=True)
class Package:
    """One assembled root: where it is and the kind of its meta file."""

    root: Path
    kind: str


def assemble(repo: Path, out: Path) -> list[Package]:
    """Write both package roots under ``out`` (replacing what was there) and check them."""
    function = out / "function"
    configuration = out / "configuration"
    for root in (function, configuration):
        if root.exists():
            shutil.rmtree(root)
    shutil.copytree(repo / "package", function)
    configuration.mkdir(parents=True)
    shutil.copy(repo / "configuration" / META_FILE, configuration / META_FILE)
    for source, target in (("xrds", "xrds"), ("compositions", "compositions")):
        (configuration / target).mkdir()
        # Top level only, legacy forms excluded: they serve Crossplane 1.x, which the
        # Configuration's version constraint rules out.
        for path in sorted((repo / source).glob("*.yaml")):
            if not path.name.endswith("-legacy.yaml"):
                shutil.copy(path, configuration / target / path.name)
    packages = [Package(function, "Function"), Package(configuration, "Configuration")]
    for package in packages:
        if check_root(package.root) != package.kind:
            raise PackageError(f"{package.root}: expected a {package.kind} package")
    return packages


def yaml_files(root: Path, *, skip: Path | None = None) -> Iterator[Path]:
    """The files xpkg parses under ``root``: ``.yaml`` and ``.yml``, sorted."""
    for path in sorted(root.rglob("*")):
        if skip is not None and path.is_relative_to(skip):
            continue
        if path.is_file() and path.suffix in (".yaml", ".yml"):
            yield path


def documents(path: Path) -> list[dict[str, Any]]:
    """The objects of one YAML file; each must name its apiVersion and kind."""
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except yaml.YAMLError as err:
        raise PackageError(f"{path}: not YAML: {err}") from None
    for index, doc in enumerate(docs):
        if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind"):
            raise PackageError(
                f"{path}: document {index + 1} is not an object with apiVersion and kind"
            )
    return docs


def check_root(root: Path) -> str:
    """Check a package root as xpkg builds it from ``cd root``; returns the meta kind."""
    meta_path = root / META_FILE
    if not meta_path.is_file():
        raise PackageError(f"{root}: no {META_FILE} at the package root")
    meta_docs = documents(meta_path)
    if len(meta_docs) != 1:
        raise PackageError(f"{meta_path}: holds {len(meta_docs)} documents, not one meta object")
    kind = check_meta(meta_path, meta_docs[0])
    examples = root / EXAMPLES
    for path in yaml_files(root, skip=examples):
        if path == meta_path:
            continue
        for doc in documents(path):
            group = doc["apiVersion"].rpartition("/")[0]
            if group == META_GROUP:
                raise PackageError(f"{path}: a second meta object ({doc['kind']})")
            if (group, doc["kind"]) not in ALLOWED[kind]:
                raise PackageError(f"{path}: a {doc['kind']} may not be in a {kind} package")
    if examples.exists():
        for path in yaml_files(examples):
            documents(path)
    return kind


def check_meta(path: Path, meta: dict[str, Any]) -> str:
    """The meta file's schema: group, kind, name, Crossplane constraint, dependencies."""
    group, _, version = meta["apiVersion"].rpartition("/")
    if group != META_GROUP or version not in ("v1", "v1beta1", "v1alpha1"):
        raise PackageError(f"{path}: apiVersion {meta['apiVersion']!r} is not {META_GROUP}/v1")
    kind = meta["kind"]
    if kind not in ALLOWED:
        raise PackageError(f"{path}: kind {kind!r} is not one of {', '.join(ALLOWED)}")
    if not (meta.get("metadata") or {}).get("name"):
        raise PackageError(f"{path}: metadata.name is required")
    spec = meta.get("spec") or {}
    constraint = (spec.get("crossplane") or {}).get("version")
    if constraint is not None and not CONSTRAINT.match(str(constraint)):
        raise PackageError(f"{path}: spec.crossplane.version {constraint!r} is not a constraint")
    for index, dep in enumerate(spec.get("dependsOn") or []):
        where = f"{path}: spec.dependsOn[{index}]"
        if "package" in dep:
            if dep.get("apiVersion") != "pkg.crossplane.io/v1" or dep.get("kind") not in (
                "Function",
                "Provider",
                "Configuration",
            ):
                raise PackageError(f"{where}: needs apiVersion pkg.crossplane.io/v1 and a kind")
            ref = dep["package"]
        else:
            refs = [dep[k] for k in ("function", "provider", "configuration") if k in dep]
            if len(refs) != 1:
                raise PackageError(f"{where}: names no package")
            ref = refs[0]
        if not PACKAGE_REF.match(ref) or ":" in ref.rpartition("/")[2]:
            raise PackageError(f"{where}: {ref!r} is not a fully qualified package without tag")
        if not CONSTRAINT.match(str(dep.get("version", ""))):
            raise PackageError(f"{where}: version {dep.get('version')!r} is not a constraint")
    return str(kind)


def main(argv: list[str]) -> int:
    """``python -m function.packaging OUT``: assemble and check both roots."""
    out = Path(argv[0] if argv else "_output/package")
    try:
        packages = assemble(Path.cwd(), out)
    except PackageError as err:
        print(f"package: {err}", file=sys.stderr)
        return 1
    for package in packages:
        print(f"{package.kind} package root: {package.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
