"""The resource types the server serves: the built-in kinds and those CRDs define."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
READ_VERBS = ("get", "list", "watch")


@dataclass
class ResourceType:
    group: str
    versions: tuple[str, ...]          # served versions, preferred (storage) first
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()  # "status", "scale", "log", "exec", ...
    custom: bool = False
    # CRDs only: per-version schema and printer columns, deprecation, the scale paths.
    schemas: dict[str, dict] = field(default_factory=dict)
    printer_columns: dict[str, list[dict] | None] = field(default_factory=dict)
    deprecated: dict[str, str] = field(default_factory=dict)
    scale: dict | None = None
    # Built-ins whose metadata.generation tracks spec changes.
    has_generation: bool = False
    # Status is written only through the /status subresource.
    status_subresource: bool = False

    @property
    def key(self) -> str:
        """Storage key, independent of version: 'pods', 'kubevirt.io/virtualmachines'."""
        return f"{self.group}/{self.plural}" if self.group else self.plural

    @property
    def storage_version(self) -> str:
        return self.versions[0]

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    def api_version(self, version: str | None = None) -> str:
        version = version or self.storage_version
        return f"{self.group}/{version}" if self.group else version

    @property
    def qualified(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _builtin(group: str, version: str, plural: str, kind: str, namespaced: bool, *, singular: str | None = None,
             short: Iterable[str] = (), categories: Iterable[str] = (), verbs: Iterable[str] = ALL_VERBS,
             sub: Iterable[str] = (), generation: bool = False, status: bool = False) -> ResourceType:
    return ResourceType(
        group=group, versions=(version,), plural=plural, singular=singular or kind.lower(), kind=kind,
        namespaced=namespaced, short_names=tuple(short), categories=tuple(categories), verbs=tuple(verbs),
        subresources=tuple(sub), has_generation=generation, status_subresource=status,
    )


BUILTINS: tuple[ResourceType, ...] = (
    _builtin("", "v1", "namespaces", "Namespace", False, short=["ns"], sub=["status", "finalize"], status=True,
             verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
    _builtin("", "v1", "nodes", "Node", False, short=["no"], sub=["status"], status=True),
    _builtin("", "v1", "pods", "Pod", True, short=["po"], categories=["all"], generation=True, status=True,
             sub=["status", "binding", "log", "exec", "attach", "portforward", "eviction"]),
    _builtin("", "v1", "bindings", "Binding", True, verbs=("create",)),
    _builtin("", "v1", "events", "Event", True, short=["ev"]),
    _builtin("", "v1", "configmaps", "ConfigMap", True, short=["cm"]),
    _builtin("", "v1", "secrets", "Secret", True),
    _builtin("", "v1", "serviceaccounts", "ServiceAccount", True, short=["sa"], sub=["token"]),
    _builtin("", "v1", "services", "Service", True, short=["svc"], categories=["all"], sub=["status"], status=True),
    _builtin("", "v1", "endpoints", "Endpoints", True, short=["ep"], singular="endpoints"),
    _builtin("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, short=["pvc"], sub=["status"],
             status=True),
    _builtin("", "v1", "persistentvolumes", "PersistentVolume", False, short=["pv"], sub=["status"], status=True),
    _builtin("coordination.k8s.io", "v1", "leases", "Lease", True),
    _builtin("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    _builtin("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    _builtin("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    _builtin("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    _builtin("apps", "v1", "deployments", "Deployment", True, short=["deploy"], categories=["all"],
             sub=["status", "scale"], generation=True, status=True),
    _builtin("apps", "v1", "daemonsets", "DaemonSet", True, short=["ds"], categories=["all"], sub=["status"],
             generation=True, status=True),
    _builtin("apps", "v1", "statefulsets", "StatefulSet", True, short=["sts"], categories=["all"],
             sub=["status", "scale"], generation=True, status=True),
    _builtin("apps", "v1", "replicasets", "ReplicaSet", True, short=["rs"], categories=["all"],
             sub=["status", "scale"], generation=True, status=True),
    _builtin("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, short=["pdb"], sub=["status"],
             generation=True, status=True),
    _builtin("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False,
             short=["crd", "crds"], sub=["status"], generation=True, status=True),
    _builtin("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False,
             verbs=("create",)),
    _builtin("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", False, verbs=("create",)),
)

# Subresources listed in discovery with a kind other than the parent's.
SUBRESOURCE_KINDS = {
    "eviction": ("policy", "v1", "Eviction"),
    "binding": ("", "v1", "Binding"),
    "scale": ("autoscaling", "v1", "Scale"),
    "token": ("authentication.k8s.io", "v1", "TokenRequest"),
}
SUBRESOURCE_VERBS = {
    "status": ("get", "patch", "update"),
    "scale": ("get", "patch", "update"),
    "finalize": ("update",),
    "binding": ("create",),
    "eviction": ("create",),
    "log": ("get",),
    "exec": ("create", "get"),
    "attach": ("create", "get"),
    "portforward": ("create", "get"),
    "token": ("create",),
}


class ResourceTypes:
    """Lookup of served resource types by group/version/plural, kind and CRD name."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, str], ResourceType] = {}   # (group, plural) → type
        self.generation = 0  # bumped on every change, so discovery and OpenAPI caches renew
        for rt in BUILTINS:
            self.add(rt)

    def add(self, rt: ResourceType) -> None:
        self._types[(rt.group, rt.plural)] = rt
        self.generation += 1

    def remove(self, group: str, plural: str) -> None:
        if self._types.pop((group, plural), None) is not None:
            self.generation += 1

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        rt = self._types.get((group, plural))
        if rt is None or version not in rt.versions:
            return None
        return rt

    def by_key(self, key: str) -> ResourceType | None:
        group, _, plural = key.rpartition("/")
        return self._types.get((group, plural))

    def by_kind(self, group: str, kind: str) -> ResourceType | None:
        for rt in self._types.values():
            if rt.group == group and rt.kind == kind:
                return rt
        return None

    def all(self) -> list[ResourceType]:
        return list(self._types.values())

    def group_versions(self) -> dict[str, list[str]]:
        """Group → served versions, preferred first; core group under ''."""
        out: dict[str, list[str]] = {}
        for rt in self._types.values():
            versions = out.setdefault(rt.group, [])
            for v in rt.versions:
                if v not in versions:
                    versions.append(v)
        for _group, versions in out.items():
            versions.sort(key=_version_priority)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return sorted((rt for rt in self._types.values() if rt.group == group and version in rt.versions),
                      key=lambda rt: rt.plural)


def _version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes' version ordering: GA > beta > alpha, higher numbers first."""
    import re

    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not m:
        return (3, 0, 0)
    major = int(m.group(1))
    stage = {"alpha": 2, "beta": 1, None: 0}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (stage, -major, -minor)
