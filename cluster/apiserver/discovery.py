"""Legacy API discovery documents: /api, /apis, /api/v1 and /apis/<group>/<version>."""

from __future__ import annotations

from .resources import SUBRESOURCE_KINDS, SUBRESOURCE_VERBS, ResourceType, ResourceTypes


def api_versions(address: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]}


def _group(name: str, versions: list[str]) -> dict:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(types: ResourceTypes) -> dict:
    groups = [_group(name, versions) for name, versions in sorted(types.group_versions().items()) if name]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(types: ResourceTypes, name: str) -> dict | None:
    versions = types.group_versions().get(name)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def _entries(rt: ResourceType) -> list[dict]:
    main = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced, "kind": rt.kind,
            "verbs": list(rt.verbs)}
    if rt.short_names:
        main["shortNames"] = list(rt.short_names)
    if rt.categories:
        main["categories"] = list(rt.categories)
    out = [main]
    for sub in rt.subresources:
        entry = {"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced,
                 "kind": rt.kind, "verbs": list(SUBRESOURCE_VERBS.get(sub, ("get",)))}
        if sub in SUBRESOURCE_KINDS and not (sub == "status"):
            group, version, kind = SUBRESOURCE_KINDS[sub]
            entry.update({"group": group, "version": version, "kind": kind})
        out.append(entry)
    return out


def api_resource_list(types: ResourceTypes, group: str, version: str) -> dict | None:
    resources = types.in_group_version(group, version)
    if not resources:
        return None
    group_version = f"{group}/{version}" if group else version
    items = [entry for rt in resources for entry in _entries(rt)]
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": items}
