"""Cluster configuration: feature gates and useEmulation from the KubeVirt resource or kubevirt-config."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ClusterConfig:
    feature_gates: set[str] = field(default_factory=set)
    use_emulation: bool = False

    def enabled(self, gate: str) -> bool:
        return gate in self.feature_gates


def from_sources(kubevirts: list[dict], configmaps: list[dict]) -> ClusterConfig:
    """The KubeVirt CR's developerConfiguration, merged with the legacy `kubevirt-config` ConfigMap."""
    gates: set[str] = set()
    emulation = False
    for kv in kubevirts:
        if kv.get("metadata", {}).get("deletionTimestamp"):
            continue
        dev = ((kv.get("spec") or {}).get("configuration") or {}).get("developerConfiguration") or {}
        gates.update(g for g in dev.get("featureGates") or [] if isinstance(g, str))
        emulation = emulation or bool(dev.get("useEmulation"))
    for cm in configmaps:
        data = cm.get("data") or {}
        gates.update(g.strip() for g in (data.get("feature-gates") or "").split(",") if g.strip())
        if (data.get("debug.useEmulation") or data.get("useEmulation") or "").lower() == "true":
            emulation = True
    return ClusterConfig(gates, emulation)
