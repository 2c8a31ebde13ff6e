"""The object vocabulary every layer speaks: a Kubernetes object as a plain dict.

The Kubernetes seam (`function.kube`), the reconciler, Lua rules and the offline commands all
pass objects as the API serves them (apiVersion, kind, metadata, spec, status...). This module
names that shape (`Object`), reads the parts everyone reads (`meta`, `group_of`, `describe`),
and turns YAML into objects: `load_yaml_documents` reads a YAML stream the way Kubernetes does
(timestamps stay strings), with errors naming the file and line, and `load_documents` reads
files and directories of YAML for the offline commands and the demo. It depends on
`function.errors` only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from function.errors import RenderError, SourceLocation, SpecError

Object = dict[str, Any]
"""A Kubernetes object as the API serves it (apiVersion, kind, metadata, spec, status...)."""


def group_of(api_version: str) -> str:
    """``apps/v1`` → ``apps``; ``v1`` → ``''``."""
    group, _, version = api_version.rpartition("/")
    return group if version else ""


def meta(obj: Object) -> dict[str, Any]:
    """The object's metadata (an empty dict when absent)."""
    metadata: dict[str, Any] = obj.get("metadata") or {}
    return metadata


def describe(obj: Object) -> str:
    """``Deployment gpu-operator/gpu-operator`` — for messages."""
    m = meta(obj)
    where = f"{m['namespace']}/" if m.get("namespace") else ""
    return f"{obj.get('kind', '?')} {where}{m.get('name', m.get('generateName', '?'))}"


_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _KubeLoader(_Loader):  # type: ignore[valid-type,misc]
    """YAML 1.1 as Kubernetes reads it: no timestamp type, dates stay strings."""


_KubeLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _Loader.yaml_implicit_resolvers.items()
}


def load_yaml_documents(text: str, location: SourceLocation) -> Iterator[tuple[int, Any]]:
    """Yield ``(first line, value)`` for each non-empty document of ``text``.

    Raises `RenderError` at ``location``'s file with the line of a YAML syntax error.
    """
    loader = _KubeLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            value = loader.construct_document(node)
            if value is not None:
                yield node.start_mark.line + 1, value
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise _yaml_error(location, line, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise _yaml_error(location, None, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()


def _yaml_error(location: SourceLocation, line: int | None, reason: str) -> RenderError:
    return RenderError(SourceLocation(location.addon, location.file, line), reason)


def load_documents(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every YAML document in the files (or the ``*.yaml`` files of directories)."""
    docs: list[dict[str, Any]] = []
    for path in paths:
        files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
        for file in files:
            try:
                loaded = list(yaml.safe_load_all(file.read_text(encoding="utf-8")))
            except UnicodeDecodeError as err:
                raise SpecError.at(
                    str(file), f"not UTF-8 text (a binary file?): byte {err.start}"
                ) from None
            except yaml.YAMLError as err:
                raise SpecError.at(str(file), f"not YAML: {err}") from None
            docs.extend(doc for doc in loaded if isinstance(doc, dict))
    return docs
