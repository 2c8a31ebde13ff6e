"""RBAC for the emulator: who may do what, decided the way kube-apiserver's RBAC authorizer does.

`request_attributes` reads a request's verb, API group, resource, subresource, namespace and
name from its method, path and query alone, as kube-apiserver's ``RequestInfoFactory`` does —
before the resource is looked up, so a forbidden request for a kind that is not served is 403,
not 404. `Policy` holds the Roles, ClusterRoles, RoleBindings and ClusterRoleBindings of one
cluster (ClusterRoles with an ``aggregationRule`` take the rules of the ClusterRoles their
selectors match, as the aggregation controller would write them) plus the bootstrap grants every
cluster has (discovery for authenticated users), and answers `Policy.allows`: deny unless some
binding that names the user, one of its groups or its service account grants a rule matching
the request. Members of ``system:masters`` are allowed everything, as kube-apiserver allows
them before asking RBAC. `forbidden` and `UNAUTHORIZED` are the `Status` bodies it sends.

Pure: no I/O and no clock; `access` wires it to a cluster's store and HTTP server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from function.testing.selectors import selector_from_match
from function.testing.status import StatusError, qualified

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_RESOURCES = ("roles", "clusterroles", "rolebindings", "clusterrolebindings")
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"

_METHOD_VERBS = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})

# The bootstrap policy's discovery roles (system:discovery, system:basic-user,
# system:public-info-viewer), reduced to the paths the emulator serves.
_DISCOVERY_PATHS = ("/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*")
_PUBLIC_PATHS = ("/healthz", "/livez", "/readyz", "/version", "/version/")


@dataclass(frozen=True, slots=True)
class User:
    """An authenticated identity: its name and groups."""

    name: str
    groups: tuple[str, ...] = (AUTHENTICATED,)


ADMIN = User("system:admin", (MASTERS, AUTHENTICATED))
ANONYMOUS = User("system:anonymous", (UNAUTHENTICATED,))


def service_account(namespace: str, name: str) -> User:
    """The user a service account's token authenticates as."""
    return User(
        f"system:serviceaccount:{namespace}:{name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED),
    )


@dataclass(frozen=True, slots=True)
class RequestAttributes:
    """What RBAC decides on (``resource`` empty for a non-resource request such as discovery)."""

    verb: str
    path: str
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def is_resource_request(self) -> bool:
        """Whether the request is for an API resource (not a path such as ``/apis``)."""
        return bool(self.resource)


def request_attributes(method: str, path: str, query: Mapping[str, str]) -> RequestAttributes:
    """The attributes kube-apiserver's ``RequestInfoFactory`` reads from a request."""
    verb = _METHOD_VERBS.get(method.upper(), method.lower())
    parts = [p for p in path.split("/") if p]
    plain = RequestAttributes(verb, path)
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return plain
    group = ""
    rest = parts[1:]
    if parts[0] == "apis":
        if len(rest) < 3:
            return plain  # /apis/<group>/<version>: discovery
        group, rest = rest[0], rest[1:]
    version, rest = rest[0], rest[1:]
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) >= 2 else ""
    subresource = rest[2] if len(rest) >= 3 else ""
    if not name and verb == "get":
        verb = "watch" if query.get("watch", "").lower() in ("1", "true") else "list"
        selector = query.get("fieldSelector", "")
        if selector.startswith("metadata.name=") and "," not in selector:
            name = selector.removeprefix("metadata.name=")
    elif not name and verb == "delete":
        verb = "deletecollection"
    return RequestAttributes(verb, path, group, version, resource, subresource, namespace, name)


@dataclass(frozen=True, slots=True)
class Rule:
    """One PolicyRule."""

    verbs: frozenset[str]
    groups: frozenset[str] = frozenset()
    resources: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    paths: tuple[str, ...] = ()

    @classmethod
    def of(cls, rule: Mapping[str, Any]) -> Rule:
        """A rule from its object form."""
        return cls(
            frozenset(rule.get("verbs") or ()),
            frozenset(rule.get("apiGroups") or ()),
            frozenset(rule.get("resources") or ()),
            frozenset(rule.get("resourceNames") or ()),
            tuple(rule.get("nonResourceURLs") or ()),
        )

    def matches(self, attrs: RequestAttributes) -> bool:
        """Whether the rule grants the request (kube's ``RuleAllows``)."""
        if not ({attrs.verb, "*"} & self.verbs):
            return False
        if not attrs.is_resource_request:
            return any(
                p == "*" or p == attrs.path or (p.endswith("*") and attrs.path.startswith(p[:-1]))
                for p in self.paths
            )
        if not ({attrs.group, "*"} & self.groups):
            return False
        if not self._resource_matches(attrs):
            return False
        return not self.names or attrs.name in self.names

    def _resource_matches(self, attrs: RequestAttributes) -> bool:
        combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
        for resource in self.resources:
            if resource in ("*", combined):
                return True
            if attrs.subresource and resource == f"*/{attrs.subresource}":
                return True
        return False


@dataclass(frozen=True, slots=True)
class Binding:
    """A RoleBinding (``namespace`` set) or ClusterRoleBinding, with the rules of its role."""

    name: str
    namespace: str
    subjects: tuple[Mapping[str, Any], ...]
    rules: tuple[Rule, ...]

    def names(self, user: User) -> bool:
        """Whether a subject of the binding is the user, one of its groups or its account."""
        for subject in self.subjects:
            kind, name = subject.get("kind"), subject.get("name")
            if kind == "User" and name == user.name:
                return True
            if kind == "Group" and name in user.groups:
                return True
            if kind == "ServiceAccount":
                namespace = subject.get("namespace") or self.namespace
                if user.name == f"system:serviceaccount:{namespace}:{name}":
                    return True
        return False

    def applies(self, attrs: RequestAttributes) -> bool:
        """A RoleBinding grants only within its namespace; a ClusterRoleBinding everywhere."""
        return not self.namespace or (
            attrs.is_resource_request and attrs.namespace == self.namespace
        )


_BOOTSTRAP = (
    Binding(
        "system:discovery",
        "",
        ({"kind": "Group", "name": AUTHENTICATED},),
        (Rule(frozenset({"get"}), paths=_DISCOVERY_PATHS + _PUBLIC_PATHS),),
    ),
    Binding(
        "system:public-info-viewer",
        "",
        ({"kind": "Group", "name": UNAUTHENTICATED},),
        (Rule(frozenset({"get"}), paths=_PUBLIC_PATHS),),
    ),
)


class Policy:
    """The bindings of one cluster, resolved to rules."""

    def __init__(self, bindings: Iterable[Binding]) -> None:
        self.bindings = (*_BOOTSTRAP, *bindings)

    @classmethod
    def from_objects(cls, objects: Iterable[Mapping[str, Any]]) -> Policy:
        """The policy of a set of RBAC objects (anything else is ignored)."""
        by_kind: dict[str, list[Mapping[str, Any]]] = {}
        for obj in objects:
            if str(obj.get("apiVersion", "")).startswith(RBAC_GROUP + "/"):
                by_kind.setdefault(str(obj.get("kind")), []).append(obj)
        cluster_roles = _cluster_role_rules(by_kind.get("ClusterRole", []))
        roles = {
            (_meta(r).get("namespace", ""), _meta(r)["name"]): _rules(r)
            for r in by_kind.get("Role", [])
        }
        bindings = []
        for kind in ("ClusterRoleBinding", "RoleBinding"):
            for obj in by_kind.get(kind, []):
                namespace = _meta(obj).get("namespace", "") if kind == "RoleBinding" else ""
                ref = obj.get("roleRef") or {}
                if ref.get("kind") == "ClusterRole":
                    rules = cluster_roles.get(ref.get("name", ""), ())
                elif ref.get("kind") == "Role" and namespace:
                    rules = roles.get((namespace, ref.get("name", "")), ())
                else:
                    rules = ()
                subjects = tuple(obj.get("subjects") or ())
                bindings.append(Binding(_meta(obj)["name"], namespace, subjects, rules))
        return cls(bindings)

    def allows(self, user: User, attrs: RequestAttributes) -> bool:
        """Whether the user may make the request."""
        if MASTERS in user.groups:
            return True
        return any(
            binding.applies(attrs)
            and binding.names(user)
            and any(rule.matches(attrs) for rule in binding.rules)
            for binding in self.bindings
        )


def forbidden(user: User, attrs: RequestAttributes) -> StatusError:
    """403 with kube-apiserver's message and details."""
    if not attrs.is_resource_request:
        why = f'User "{user.name}" cannot {attrs.verb} path "{attrs.path}"'
        return StatusError(403, "Forbidden", f"forbidden: {why}", {})
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    where = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    why = (
        f'User "{user.name}" cannot {attrs.verb} resource "{resource}" '
        f'in API group "{attrs.group}" {where}'
    )
    what = qualified(attrs.resource, attrs.group)
    message = (
        f'{what} "{attrs.name}" is forbidden: {why}'
        if attrs.name
        else f"{what} is forbidden: {why}"
    )
    details: dict[str, Any] = {"kind": attrs.resource}
    if attrs.name:
        details["name"] = attrs.name
    if attrs.group:
        details["group"] = attrs.group
    return StatusError(403, "Forbidden", message, details)


def unauthorized() -> StatusError:
    """401: the bearer token is not one the cluster issued."""
    return StatusError(401, "Unauthorized", "Unauthorized")


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata: Mapping[str, Any] = obj.get("metadata") or {}
    return metadata


def _rules(obj: Mapping[str, Any]) -> tuple[Rule, ...]:
    return tuple(Rule.of(rule) for rule in obj.get("rules") or ())


def _cluster_role_rules(roles: list[Mapping[str, Any]]) -> dict[str, tuple[Rule, ...]]:
    """Each ClusterRole's rules; an aggregated one's are those of the roles it selects."""
    own = {_meta(r)["name"]: _rules(r) for r in roles}
    resolved = dict(own)
    for role in roles:
        aggregation = role.get("aggregationRule")
        if not aggregation:
            continue
        selectors = [selector_from_match(s) for s in aggregation.get("clusterRoleSelectors") or ()]
        rules: list[Rule] = []
        for other in roles:
            name = _meta(other)["name"]
            labels = _meta(other).get("labels") or {}
            if name != _meta(role)["name"] and any(s.matches(labels) for s in selectors):
                rules += [r for r in own[name] if r not in rules]
        resolved[_meta(role)["name"]] = tuple(rules)
    return resolved
