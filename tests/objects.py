"""Objects many tests build on: the GPU operator add-on from the offline charts, and CRDs.

One definition each, so that a test reads as what it changes from them.
"""

from typing import Any

GPU_OPERATOR_CHART = {
    "repository": "file://examples/charts",
    "chart": "gpu-operator",
    "version": "v26.7.0",
}
"""The GPU operator chart of ``examples/charts`` (a stand-in with the real chart's objects)."""


def gpu_operator_addon(**helm: Any) -> dict[str, Any]:
    """The GPU operator add-on in namespace ``gpu-operator``; ``helm`` adds to its chart."""
    return {
        "name": "gpu-operator",
        "namespace": "gpu-operator",
        "helm": {**GPU_OPERATOR_CHART, **helm},
    }


def crd(
    group: str,
    kind: str,
    *,
    versions: tuple[str, ...] = ("v1",),
    status: bool = False,
    list_kind: bool = True,
) -> dict[str, Any]:
    """A namespaced CRD of ``kind`` in ``group``, schemaless; the last version is stored;
    ``status``: with the status subresource."""
    plural = f"{kind.lower()}s"
    entries = []
    for index, version in enumerate(versions):
        entry: dict[str, Any] = {
            "name": version,
            "served": True,
            "storage": index == len(versions) - 1,
            "schema": {
                "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            },
        }
        if status:
            entry["subresources"] = {"status": {}}
        entries.append(entry)
    names = {"kind": kind, "plural": plural, "singular": kind.lower()}
    if list_kind:
        names["listKind"] = f"{kind}List"
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {"group": group, "names": names, "scope": "Namespaced", "versions": entries},
    }
