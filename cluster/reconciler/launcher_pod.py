"""The launcher pod for a VirtualMachineInstance (KubeVirt's RenderLaunchManifest).

Labels, annotations, resources and the grace period follow KubeVirt: `virt-launcher-<vmi>-xxxxx`,
`kubevirt.io=virt-launcher`, `kubevirt.io/created-by=<vmi uid>`, memory = guest memory plus the
launcher's overhead, pod grace = VMI grace + 30 s, scheduling constraints copied from the VMI.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .quantity import format_bytes, parse_quantity

LAUNCHER_OVERHEAD = 160 * 2**20       # libvirt + QEMU + the launcher itself, beyond guest RAM
CONSOLE_LOG_DIR = "/var/run/kvtui-private"
CONSOLE_LOG = f"{CONSOLE_LOG_DIR}/console.log"
CONTROL_PORT = 8777
HEALTH_PORT = 8778     # on the pod IP, only GET /readyz: the control endpoint itself stays on loopback
# Until the domain runs, the launcher pod weighs eight CPUs against other pods (the node agent's
# startup CPU boost), so a launcher starts within a second or two even while many guests boot:
# the guests already running, which ask for a fraction of a CPU each, wait the second it takes.
# Afterwards the pod weighs its requests and the guest competes at the VMI's own CPU request. With
# 82 VMIs started 100 ms apart on 2 cores, a boost of one CPU let the booting guests take a third
# of the CPU and the 95th percentile to Running was 14-16 s; with 2, 8 or 32 CPUs it is 10-12.5 s.
STARTUP_CPU_BOOST = "8"
STARTUP_BOOST_ANNOTATION = "kvtui.io/startup-cpu-boost"
# The startup probe waits (long-polls) this long for the domain, so the pod turns Ready the moment
# the guest runs rather than at the next probe period, without a failed probe every second (the
# launcher binds its health port first thing, so a probe waits rather than being refused while the
# launcher loads). After STARTUP_FAILURES attempts (about half an hour) the container is killed
# and, as the pod never restarts, the VMI fails.
READY_WAIT_SECONDS = 25
STARTUP_FAILURES = 70
DEFAULT_GRACE = 30


@dataclass
class LauncherSettings:
    image: str = "kvtui/launcher:latest"
    service_account: str = "kvtui-launcher"
    feature_gates: list[str] = field(default_factory=list)
    use_emulation: bool = False
    image_pull_policy: str = "IfNotPresent"


def guest_memory_bytes(vmi: dict) -> int:
    domain = (vmi.get("spec") or {}).get("domain") or {}
    guest = (domain.get("memory") or {}).get("guest")
    if guest is None:
        guest = ((domain.get("resources") or {}).get("requests") or {}).get("memory")
    if guest is None:
        raise ValueError("spec.domain.memory.guest: Required value: set memory.guest or "
                         "resources.requests.memory")
    return int(parse_quantity(guest))


def launcher_pod_for(vmi: dict, settings: LauncherSettings) -> dict:
    meta = vmi["metadata"]
    spec = vmi.get("spec") or {}
    name, uid = meta["name"], meta["uid"]
    grace = spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE)
    labels = dict(meta.get("labels") or {})
    labels.update({
        "kubevirt.io": "virt-launcher",
        "kubevirt.io/created-by": uid,
        "vm.kubevirt.io/name": name,
        "vmi.kubevirt.io/id": name if len(name) <= 63 else uid,
    })
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if not k.startswith("kubectl.kubernetes.io/")}
    annotations.update({
        "kubevirt.io/domain": name,
        "kubectl.kubernetes.io/default-container": "compute",
        STARTUP_BOOST_ANNOTATION: STARTUP_CPU_BOOST,
    })
    memory = guest_memory_bytes(vmi) + LAUNCHER_OVERHEAD
    requests = dict(((spec.get("domain") or {}).get("resources") or {}).get("requests") or {})
    requests["memory"] = format_bytes(memory)
    requests.setdefault("cpu", "100m")
    limits = {k: v for k, v in (((spec.get("domain") or {}).get("resources") or {}).get("limits") or {}).items()
              if k == "cpu"}
    if not settings.use_emulation:
        requests["devices.kubevirt.io/kvm"] = "1"
        limits["devices.kubevirt.io/kvm"] = "1"
    env = [
        {"name": "VMI_NAME", "value": name},
        {"name": "VMI_UID", "value": uid},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "KVTUI_FEATURE_GATES", "value": ",".join(settings.feature_gates)},
        {"name": "KVTUI_USE_EMULATION", "value": "true" if settings.use_emulation else "false"},
        {"name": "KVTUI_CONTROL_PORT", "value": str(CONTROL_PORT)},
        {"name": "KVTUI_HEALTH_PORT", "value": str(HEALTH_PORT)},
        {"name": "KVTUI_CONSOLE_LOG", "value": CONSOLE_LOG},
        {"name": "KVTUI_GRACE_PERIOD_SECONDS", "value": str(grace + 15)},
    ]
    private = {"name": "private", "mountPath": CONSOLE_LOG_DIR}
    compute = {
        "name": "compute",
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "args": ["--vmi-name", name],
        "env": env,
        "ports": [{"name": "control", "containerPort": CONTROL_PORT, "protocol": "TCP"},
                  {"name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP"}],
        # Started (and so Ready) once the domain runs: /readyz answers as soon as it does, or 503
        # after the wait. A startup probe stops once it succeeds: no probe traffic afterwards.
        "startupProbe": {"httpGet": {"path": f"/readyz?wait={READY_WAIT_SECONDS}", "port": HEALTH_PORT},
                         "periodSeconds": 1, "timeoutSeconds": READY_WAIT_SECONDS + 2,
                         "failureThreshold": STARTUP_FAILURES},
        "resources": {"requests": requests, **({"limits": limits} if limits else {})},
        "volumeMounts": [private],
        "securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE"]}},
    }
    console_log = {
        "name": "guest-console-log",
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["tail", "--retry", "-n", "+1", "-F", CONSOLE_LOG],
        "resources": {"requests": {"cpu": "5m", "memory": "35Mi"}, "limits": {"memory": "60Mi"}},
        "volumeMounts": [private],
    }
    pod_spec: dict = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": grace + 30,
        "serviceAccountName": settings.service_account,
        "automountServiceAccountToken": True,
        "enableServiceLinks": False,
        "containers": [compute, console_log],
        "volumes": [{"name": "private", "emptyDir": {}}],
        "nodeSelector": {**(spec.get("nodeSelector") or {}), "kubevirt.io/schedulable": "true"},
    }
    for key in ("affinity", "tolerations", "topologySpreadConstraints", "schedulerName", "priorityClassName",
                "hostname", "subdomain", "dnsPolicy", "dnsConfig"):
        if spec.get(key):
            pod_spec[key] = spec[key]
    if spec.get("hostname"):
        pod_spec["hostname"] = spec["hostname"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": f"virt-launcher-{name}-",
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [{
                "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance", "name": name, "uid": uid,
                "controller": True, "blockOwnerDeletion": True,
            }],
        },
        "spec": pod_spec,
    }
