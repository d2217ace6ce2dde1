"""The Kubernetes Pod Security Standards' "baseline" and "restricted" checks that apply to the pods
kvtui creates, as a list of violations a user would read (kubernetes.io, pod-security-standards)."""

from __future__ import annotations

BASELINE_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                         "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes"}


def _containers(spec: dict) -> list[dict]:
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def baseline_violations(spec: dict) -> list[str]:
    problems = [f"spec.{k}: host namespaces are not allowed" for k in ("hostNetwork", "hostPID", "hostIPC")
                if spec.get(k)]
    problems += [f"volume {v['name']}: hostPath volumes are not allowed" for v in spec.get("volumes") or []
                 if "hostPath" in v]
    pod_sc = spec.get("securityContext") or {}
    problems += [f"sysctl {s['name']} is not a safe sysctl" for s in pod_sc.get("sysctls") or []
                 if s.get("name") not in SAFE_SYSCTLS]
    for c in _containers(spec):
        sc = c.get("securityContext") or {}
        if sc.get("privileged"):
            problems.append(f"container {c['name']}: privileged")
        extra = sorted(set((sc.get("capabilities") or {}).get("add") or []) - BASELINE_CAPABILITIES)
        if extra:
            problems.append(f"container {c['name']}: adds capabilities outside the baseline set: {', '.join(extra)}")
        if any(p.get("hostPort") for p in c.get("ports") or []):
            problems.append(f"container {c['name']}: hostPort")
        if sc.get("procMount") not in (None, "Default"):
            problems.append(f"container {c['name']}: procMount {sc['procMount']}")
        if (sc.get("seccompProfile") or {}).get("type") == "Unconfined":
            problems.append(f"container {c['name']}: seccomp Unconfined")
    if (pod_sc.get("seccompProfile") or {}).get("type") == "Unconfined":
        problems.append("pod: seccomp Unconfined")
    return problems


def restricted_violations(spec: dict) -> list[str]:
    problems = baseline_violations(spec)
    pod_sc = spec.get("securityContext") or {}
    for v in spec.get("volumes") or []:
        kinds = set(v) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            problems.append(f"volume {v['name']}: type {', '.join(sorted(kinds))} is not allowed")
    for c in _containers(spec):
        sc = c.get("securityContext") or {}
        name = f"container {c['name']}"
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation must be false")
        if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
            problems.append(f"{name}: runAsNonRoot must be true")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            problems.append(f"{name}: runAsUser must not be 0")
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile must be RuntimeDefault or Localhost")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            problems.append(f"{name}: capabilities must drop ALL")
        extra = sorted(set(caps.get("add") or []) - {"NET_BIND_SERVICE"})
        if extra:
            problems.append(f"{name}: may add only NET_BIND_SERVICE, adds {', '.join(extra)}")
    return problems


def violations(spec: dict, level: str) -> list[str]:
    return {"privileged": lambda s: [], "baseline": baseline_violations, "restricted": restricted_violations}[level](spec)
