"""What a target reads from the management cluster: its workload client and template inputs.

Three kinds of input, each read as little as it can be:

- the **workload client**, from the cluster's kubeconfig Secret. Cluster API's kubeconfig
  Secrets are in the informer store (their data only as a digest); while that digest is
  unchanged the cached client is reused without reading the Secret again;
- **manifest sources**: the ConfigMaps and Secrets an add-on's ``manifestsFrom`` names, with
  the resourceVersions they were read at (an input hash is remembered by them);
- **chart credentials**: the Secret an add-on's ``helm.credentialsSecretRef`` names;
- the **template context**: the cluster, its infrastructure and control plane objects (read
  only when some template uses them) and the ``templateResourceRefs`` objects.

A namespaced bundle may read only its own namespace; the refusal names the field. Every
Secret read first passes the `SecretScope` (``--secret-namespaces``), whose refusal names the
namespace and the flag.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

from function.errors import (
    ChartAccess,
    ChartAccessError,
    ForbiddenError,
    NotFoundError,
    RenderError,
    SecretNamespaceError,
    SourceLocation,
)
from function.kube.client import KubeClient
from function.kube.clients import WorkloadClients, kubeconfig_from_secret
from function.model.bundle import AddonBundleSpec, AddonSpec, HelmSource
from function.model.objects import Object, meta
from function.reconciler.chartaccess import RepositoryAccess, access_from_secret
from function.reconciler.hashing import template_sources
from function.reconciler.manifests import manifest_templates
from function.reconciler.readiness import kubeconfig_location
from function.reconciler.secretscope import SecretScope
from function.reconciler.store import DATA_DIGEST, GroupKind, ObjectId, Store
from function.reconciler.templates import TemplateContext, referenced_variables

SECRET = GroupKind("", "Secret")
ABSENT = ""
"""The version of an object that does not exist (no served object has an empty one)."""


class SourceTexts(NamedTuple):
    """An add-on's ``manifestsFrom`` templates and the versions they were read at."""

    texts: dict[str, str]
    """Templates by source label (`function.reconciler.manifests.source_label`)."""
    versions: tuple[str | None, ...]
    """Each entry's object's resourceVersion (`ABSENT` when missing, None when unknown)."""


class Inputs:
    """Reads a target's inputs; shared by every worker."""

    def __init__(
        self,
        mgmt: KubeClient,
        clients: WorkloadClients,
        store: Store,
        scope: SecretScope | None = None,
    ) -> None:
        self._mgmt = mgmt
        self.scope = scope or SecretScope()
        self._clients = clients
        self._store = store
        self._seen: dict[ObjectId, str] = {}
        """Cluster → store digest of the kubeconfig Secret its client was built from."""

    async def workload_client(
        self, spec: AddonBundleSpec | None, cluster_id: ObjectId, cluster: Object
    ) -> KubeClient:
        """The cluster's client; `NotFoundError` while its kubeconfig Secret is missing."""
        name, namespace, key = kubeconfig_location(spec, cluster_id, cluster)
        self.scope.check(namespace, name, "kubeconfig Secret")
        cluster_key = str(cluster_id)
        digest = _digest(self._store.get(SECRET, namespace, name))
        if digest is not None and self._seen.get(cluster_id) == digest:
            cached = self._clients.cached(cluster_key)
            if cached is not None:
                return cached
        try:
            secret = await self._mgmt.get("v1", "Secret", name, namespace)
        except NotFoundError:
            raise NotFoundError(
                f"waiting for kubeconfig Secret {namespace}/{name}", status=404
            ) from None
        client = await self._clients.get(cluster_key, kubeconfig_from_secret(secret, key))
        if digest is not None:
            self._seen[cluster_id] = digest
        return client

    async def client_of(
        self, cluster_id: ObjectId, spec: AddonBundleSpec | None = None
    ) -> KubeClient:
        """The client of a cluster as the store holds it, for the watches that connect by
        id; `NotFoundError` when the cluster is not (or no longer) in the store."""
        cluster = self._store.get_id(cluster_id)
        if cluster is None:
            raise NotFoundError(f"{cluster_id} not found", status=404)
        return await self.workload_client(spec, cluster_id, cluster)

    async def forget(self, cluster_id: ObjectId) -> None:
        """Close and drop the client of a cluster that is gone."""
        self._seen.pop(cluster_id, None)
        await self._clients.forget(str(cluster_id))

    async def chart_access(
        self, addon: str, source: HelmSource, namespace: str
    ) -> RepositoryAccess | None:
        """How the add-on's private chart repository is reached, from its credentials Secret
        in the bundle's namespace; `ChartAccessError` when it cannot be read or used."""
        ref = source.credentials_secret_ref
        secret: Object | None = None
        if ref is not None:
            try:
                self.scope.check(namespace, ref.name, "credentials Secret")
                secret = await self._mgmt.get("v1", "Secret", ref.name, namespace)
            except NotFoundError:
                secret = None
            except ForbiddenError as exc:
                location = SourceLocation(addon, f"chart {source.chart}:{source.version}")
                unread = f"credentials Secret {namespace}/{ref.name} cannot be read: {exc}"
                raise ChartAccessError(
                    location,
                    str(exc) if isinstance(exc, SecretNamespaceError) else unread,
                    cause=ChartAccess.CREDENTIALS,
                ) from exc
        return access_from_secret(addon, source, namespace, secret)

    async def sources(self, addon: AddonSpec, namespace: str) -> SourceTexts:
        """The templates of an add-on's ``manifestsFrom`` entries, by source label, with the
        versions of the objects they were read from."""
        sources: dict[str, str] = {}
        versions: list[str | None] = []
        for source in addon.manifests_from:
            source_namespace = source.namespace or namespace
            if source_namespace != namespace:
                where = f"{source.kind.value} {source_namespace}/{source.name}"
                raise RenderError(
                    SourceLocation(addon.name, where),
                    "manifestsFrom may only read the bundle's namespace",
                )
            if source.kind.value == "Secret":
                self.scope.check(namespace, source.name, "manifestsFrom Secret")
            obj = await self._get_or_none("v1", source.kind.value, source.name, namespace)
            versions.append(ABSENT if obj is None else version_of(obj))
            sources |= manifest_templates(
                source, obj, addon=addon.name, default_namespace=namespace
            )
        return SourceTexts(sources, tuple(versions))

    async def context(
        self,
        namespace: str,
        spec: AddonBundleSpec,
        cluster: Object,
        needs: Collection[str],
    ) -> TemplateContext:
        """The template context; objects no template names (``needs``) are not read."""
        resources: dict[str, Object] = {}
        for i, ref in enumerate(spec.template_resource_refs):
            res = ref.resource
            ns = res.namespace or namespace
            where = SourceLocation("*", f"spec.templateResourceRefs[{i}]")
            if ns != namespace:
                raise RenderError(
                    where, "templateResourceRefs may only read the bundle's namespace"
                )
            if res.kind == "Secret" and res.api_version == "v1":
                self.scope.check(ns, res.name, "templateResourceRefs Secret")
            obj = await self._get_or_none(res.api_version, res.kind, res.name, ns)
            if obj is None and not ref.optional:
                raise RenderError(where, f"{res.kind} {ns}/{res.name} not found")
            if obj is not None:
                resources[ref.identifier] = obj
        refs = cluster.get("spec") or {}
        infrastructure = control_plane = None
        if "infrastructure" in needs:
            infrastructure = await self._ref(refs.get("infrastructureRef"), namespace)
        if "controlPlane" in needs:
            control_plane = await self._ref(refs.get("controlPlaneRef"), namespace)
        event = spec.event_data
        return TemplateContext(
            cluster=cluster,
            infrastructure=infrastructure,
            control_plane=control_plane,
            resources=resources,
            resource=event.resource if event is not None else None,
            matching_resources=event.matching_resources if event is not None else (),
        )

    async def _ref(self, ref: Mapping[str, Any] | None, namespace: str) -> Object | None:
        """A Cluster's infrastructure or control plane object (v1beta1 or v1beta2 reference)."""
        if not ref or not ref.get("name") or not ref.get("kind"):
            return None
        api_version = ref.get("apiVersion")
        try:
            if not api_version:  # v1beta2: apiGroup only, ask for the preferred version
                group = str(ref.get("apiGroup", ""))
                api_version = f"{group}/{await self._mgmt.preferred_version(group)}"
            return await self._get_or_none(
                str(api_version), str(ref["kind"]), str(ref["name"]), namespace
            )
        except NotFoundError:
            return None

    async def _get_or_none(
        self, api_version: str, kind: str, name: str, namespace: str | None
    ) -> Object | None:
        try:
            return await self._mgmt.get(api_version, kind, name, namespace)
        except NotFoundError:
            return None


def referenced_names(
    spec: AddonBundleSpec, sources: Mapping[str, SourceTexts | Exception]
) -> set[str]:
    """Top-level template names any add-on reads (all of them when a template is unreadable)."""
    names: set[str] = set()
    for addon in spec.addons:
        read = sources.get(addon.name)
        for text in template_sources(addon, read.texts if isinstance(read, SourceTexts) else {}):
            found = referenced_variables(text)
            if found is None:
                return {"infrastructure", "controlPlane"}
            names |= found
    return names


def version_of(obj: Mapping[str, Any]) -> str | None:
    """An object's resourceVersion; None when it has none (it cannot be told from another
    state of itself)."""
    version = (obj.get("metadata") or {}).get("resourceVersion")
    return str(version) if version else None


def _digest(secret: Object | None) -> str | None:
    if secret is None:
        return None
    digest = (meta(secret).get("annotations") or {}).get(DATA_DIGEST)
    return str(digest) if digest else None
