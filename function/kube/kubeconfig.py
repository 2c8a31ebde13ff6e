"""Where the management cluster's credentials come from, found the way users expect.

``aifleet reconcile`` runs in a pod (the service account), on a workstation (``$KUBECONFIG``,
a list of files as kubectl reads it, or ``~/.kube/config``) or against a file named with
``--kubeconfig``. This module looks in that order, merges a ``$KUBECONFIG`` list with
kubectl's rules, and turns every way of failing into one `KubeconfigError` line that says
what it tried — never a traceback from deep inside the client's loader.

The merge is a pure function over parsed files; only `locate` reads the environment and the
file system, and both are parameters so that tests can hand it any machine.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import SERVICE_CERT_FILENAME, SERVICE_TOKEN_FILENAME

from function.errors import AifleetError
from function.kube.adapter import configuration_from_kubeconfig, in_cluster_configuration

_NAMED = ("clusters", "contexts", "users")
# Fields of a kubeconfig that name files, relative to the file that holds them.
_FILE_FIELDS = {
    "clusters": ("cluster", ("certificate-authority",)),
    "users": ("user", ("client-certificate", "client-key", "tokenFile")),
}


class KubeconfigError(AifleetError):
    """No usable credentials for the management cluster; the message is one line."""


@dataclass(frozen=True)
class Credentials:
    """A client configuration and where it came from (for the log line at start-up)."""

    configuration: k8s.Configuration
    source: str


@dataclass(frozen=True)
class ServiceAccount:
    """Where a pod finds its service account: the environment and the mounted files."""

    environ: Mapping[str, str]
    token_file: str = SERVICE_TOKEN_FILENAME
    ca_file: str = SERVICE_CERT_FILENAME


def locate(
    explicit: Path | None,
    *,
    context: str | None = None,
    environ: Mapping[str, str] | None = None,
    service_account: ServiceAccount | None = None,
    home: Path | None = None,
) -> Credentials:
    """The credentials ``aifleet reconcile`` uses: ``--kubeconfig``, else the pod's service
    account, else ``$KUBECONFIG`` (colon-separated), else ``~/.kube/config``."""
    env = os.environ if environ is None else environ
    if explicit is not None:
        return _from_files([explicit], context, f"--kubeconfig {explicit}")
    tried: list[str] = []
    account = service_account or ServiceAccount(env)
    try:
        configuration = in_cluster_configuration(
            environ=account.environ, token_file=account.token_file, ca_file=account.ca_file
        )
        return Credentials(configuration, "in-cluster service account")
    except ConfigException as exc:
        tried.append(f"in-cluster ({_sentence(str(exc))})")
    listed = [Path(p).expanduser() for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:
        present = [p for p in listed if p.is_file()]
        if present:
            joined = os.pathsep.join(map(str, present))
            return _from_files(present, context, f"$KUBECONFIG {joined}")
        tried.append(f"$KUBECONFIG ({', '.join(map(str, listed))}: no such file)")
    else:
        tried.append("$KUBECONFIG (not set)")
    default = (home or Path.home()) / ".kube" / "config"
    if default.is_file():
        return _from_files([default], context, str(default))
    tried.append(f"{default} (no such file)")
    raise KubeconfigError(
        "no credentials for the management cluster: tried "
        + "; ".join(tried)
        + "; pass --kubeconfig"
    )


def merge(documents: Sequence[tuple[Path, Any]]) -> dict[str, Any]:
    """kubectl's merge of a kubeconfig list: for clusters, contexts and users the first file
    to name an entry wins; the first ``current-context`` set wins; relative file paths are
    made absolute against the file that holds them. Raises `KubeconfigError` naming the file
    whose content is not a kubeconfig."""
    merged: dict[str, Any] = {name: [] for name in _NAMED}
    seen: dict[str, set[str]] = {name: set() for name in _NAMED}
    for path, document in documents:
        if not isinstance(document, Mapping):
            raise KubeconfigError(f"kubeconfig {path}: not a kubeconfig (expected a mapping)")
        for name in _NAMED:
            entries = document.get(name) or []
            if not isinstance(entries, list):
                raise KubeconfigError(f"kubeconfig {path}: {name} must be a list")
            for entry in entries:
                if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
                    raise KubeconfigError(f"kubeconfig {path}: an entry of {name} has no name")
                if entry["name"] not in seen[name]:
                    seen[name].add(entry["name"])
                    merged[name].append(_absolute(name, entry, path.parent))
        if document.get("current-context") and "current-context" not in merged:
            merged["current-context"] = document["current-context"]
    return merged


def _from_files(paths: Sequence[Path], context: str | None, source: str) -> Credentials:
    documents = [(path, _parse(path)) for path in paths]
    merged = merge(documents)
    where = f"kubeconfig {os.pathsep.join(map(str, paths))}"
    chosen = context or merged.get("current-context")
    if not chosen:
        raise KubeconfigError(f"{where}: no current-context set and no --context given")
    if chosen not in {c["name"] for c in merged["contexts"]}:
        raise KubeconfigError(f"{where}: context {chosen!r} not found")
    try:
        configuration = configuration_from_kubeconfig(merged, context=chosen)
    except (ConfigException, ValueError, TypeError, KeyError) as exc:
        raise KubeconfigError(f"{where}: {_sentence(str(exc))}") from None
    return Credentials(configuration, source)


def _parse(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as exc:
        raise KubeconfigError(f"kubeconfig {path}: {exc.strerror or exc}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise KubeconfigError(f"kubeconfig {path}: not valid YAML{where}: {problem}") from None
    if document is None:
        raise KubeconfigError(f"kubeconfig {path}: the file is empty")
    return document


def _absolute(section: str, entry: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """The entry with its relative file references resolved against ``base``."""
    copied = dict(entry)
    if section not in _FILE_FIELDS:
        return copied
    inner_key, fields = _FILE_FIELDS[section]
    inner = copied.get(inner_key)
    if isinstance(inner, Mapping):
        inner = dict(inner)
        for field in fields:
            value = inner.get(field)
            if isinstance(value, str) and value and not os.path.isabs(value):
                inner[field] = str(base / value)
        copied[inner_key] = inner
    return copied


def _sentence(message: str) -> str:
    """A loader's message as a clause: one line, no trailing full stop, lower-case start."""
    line = " ".join(message.split()).rstrip(".")
    return line[:1].lower() + line[1:]
