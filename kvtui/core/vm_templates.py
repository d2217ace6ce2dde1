"""VirtualMachine manifests from a few choices (the create form and `kvtui create vm`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

RUN_STRATEGIES = ("Always", "RerunOnFailure", "Manual", "Halted", "Once")
DEMO_IMAGE = "kvtui/demo:latest"


@dataclass
class VMOptions:
    name: str
    image: str = "demo"
    cpu: int = 1
    memory: str = "128Mi"
    run_strategy: str = "Always"
    ssh_keys: list[str] = field(default_factory=list)
    user_data: str | None = None
    namespace: str | None = None


def _check(opts: VMOptions) -> None:
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", opts.name or "") or len(opts.name) > 63:
        raise ValueError(f'name "{opts.name}" is not valid: use lower case letters, digits and "-", starting and '
                         "ending with a letter or digit (at most 63 characters)")
    if opts.cpu < 1:
        raise ValueError(f"cpu {opts.cpu} is not valid: a VM needs at least 1 virtual CPU")
    if not re.fullmatch(r"[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?", opts.memory):
        raise ValueError(f'memory "{opts.memory}" is not valid: use a quantity such as 128Mi or 2Gi')
    if opts.run_strategy not in RUN_STRATEGIES:
        raise ValueError(f'run strategy "{opts.run_strategy}" is not valid: use one of ' + ", ".join(RUN_STRATEGIES))


def _cloud_init(opts: VMOptions) -> str | None:
    if opts.user_data:
        return opts.user_data
    if opts.ssh_keys:
        keys = "\n".join(f"  - {k}" for k in opts.ssh_keys)
        return f"#cloud-config\nssh_authorized_keys:\n{keys}\n"
    return None


def vm_manifest(opts: VMOptions) -> dict:
    _check(opts)
    disks: list[dict] = []
    volumes: list[dict] = []
    domain: dict = {"cpu": {"cores": opts.cpu}, "memory": {"guest": opts.memory}, "devices": {}}
    if opts.image == "demo" or opts.image.startswith("containerdisk:"):
        # The demo image's disk boots by itself (SYSLINUX), like any containerDisk.
        disks.append({"name": "rootdisk", "disk": {"bus": "virtio"}})
        image = DEMO_IMAGE if opts.image == "demo" else opts.image.split(":", 1)[1]
        volumes.append({"name": "rootdisk", "containerDisk": {"image": image}})
    elif opts.image.startswith("hostdisk:"):
        disks.append({"name": "rootdisk", "disk": {"bus": "virtio"}})
        volumes.append({"name": "rootdisk", "hostDisk": {"path": opts.image.split(":", 1)[1], "type": "Disk"}})
    else:
        raise ValueError(f'image "{opts.image}" is not valid: use demo, containerdisk:IMAGE or hostdisk:PATH')
    user_data = _cloud_init(opts)
    if user_data:
        disks.append({"name": "cloudinitdisk", "disk": {"bus": "virtio"}})
        volumes.append({"name": "cloudinitdisk", "cloudInitNoCloud": {"userData": user_data}})
    domain["devices"] = {"disks": disks, "interfaces": [{"name": "default", "masquerade": {},
                                                         "ports": [{"name": "ssh", "port": 22}]}]}
    metadata: dict = {"name": opts.name}
    if opts.namespace:
        metadata["namespace"] = opts.namespace
    spec: dict = {"domain": domain, "networks": [{"name": "default", "pod": {}}]}
    if volumes:
        spec["volumes"] = volumes
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": metadata,
        "spec": {"runStrategy": opts.run_strategy,
                 "template": {"metadata": {"labels": {"kubevirt.io/vm": opts.name}}, "spec": spec}},
    }
