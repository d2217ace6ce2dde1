"""The launcher's configuration: the pod's environment (set by the reconciler and the node agent)
and the command line, in one frozen object.

Environment: VMI_NAME, POD_NAMESPACE, NODE_NAME, POD_IP; KVTUI_FEATURE_GATES (comma list),
KVTUI_USE_EMULATION, KVTUI_IMAGE_STORE, KVTUI_VMI_DISKS_DIR (persistentVolumeClaim mounts),
KVTUI_NODE_DIR (node-wide caches: libvirt capabilities, the KVM verdict), KVTUI_STATE_DIR,
KVTUI_CONSOLE_LOG, KVTUI_CONTROL_ADDRESS, KVTUI_CONTROL_PORT, KVTUI_CONTROL_TOKEN,
KVTUI_HEALTH_PORT.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from launcher.volumes.image_store import default_image_store

DEFAULT_CONTROL_PORT = 8777
DEFAULT_CLAIMS_DIR = Path("/var/run/kubevirt-private/vmi-disks")


class SettingsError(Exception):
    """A bad environment variable or option; the message names it."""


@dataclass(frozen=True)
class LauncherSettings:
    state_dir: Path
    node_dir: Path
    image_store: Path
    claims_dir: Path
    console_log: Path
    feature_gates: frozenset[str] = frozenset()
    use_emulation: bool = False
    node_name: str = ""
    pod_ip: str | None = None
    control_address: str = "127.0.0.1"
    control_port: int = DEFAULT_CONTROL_PORT
    control_token: str | None = None
    # The pod-IP listener with nothing but GET /readyz, for the node agent's startup probe (the
    # control endpoint stays on loopback, reached through pods/portforward). None: no listener.
    health_port: int | None = None
    # How often an unanswered ACPI power-button press is repeated (KubeVirt: 5 s).
    shutdown_retry_seconds: float = 5.0

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None, *, state_dir: Path | None = None,
                         control_port: int | None = None) -> LauncherSettings:
        env = os.environ if env is None else env
        state = Path(state_dir or env.get("KVTUI_STATE_DIR") or _pod_state_dir(env)
                     or _new_state_dir())
        state = state.absolute()
        state.mkdir(parents=True, exist_ok=True)
        port = control_port if control_port is not None else _port(env.get("KVTUI_CONTROL_PORT"),
                                                                    "KVTUI_CONTROL_PORT", DEFAULT_CONTROL_PORT)
        health = env.get("KVTUI_HEALTH_PORT")
        return cls(
            state_dir=state,
            node_dir=Path(env.get("KVTUI_NODE_DIR") or _default_node_dir()).absolute(),
            image_store=Path(env.get("KVTUI_IMAGE_STORE") or default_image_store()).absolute(),
            claims_dir=Path(env.get("KVTUI_VMI_DISKS_DIR") or DEFAULT_CLAIMS_DIR).absolute(),
            console_log=Path(env.get("KVTUI_CONSOLE_LOG") or state / "console.log").absolute(),
            feature_gates=frozenset(g.strip() for g in env.get("KVTUI_FEATURE_GATES", "").split(",") if g.strip()),
            use_emulation=_flag(env.get("KVTUI_USE_EMULATION"), "KVTUI_USE_EMULATION"),
            node_name=env.get("NODE_NAME", ""),
            pod_ip=env.get("POD_IP") or primary_ipv4(),
            control_address=env.get("KVTUI_CONTROL_ADDRESS") or "127.0.0.1",
            control_port=port,
            control_token=env.get("KVTUI_CONTROL_TOKEN") or None,
            health_port=_port(health, "KVTUI_HEALTH_PORT", 0) if health else None,
        )


def _pod_state_dir(env: Mapping[str, str]) -> Path | None:
    """In a launcher pod the console log is on the pod's own volume, which goes with the pod: so
    does the state kept beside it."""
    log = env.get("KVTUI_CONSOLE_LOG")
    return Path(log).parent / "state" if log else None


def _default_node_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "kvtui" / "node"


def _port(value: str | None, name: str, default: int) -> int:
    if not value:
        return default
    try:
        port = int(value)
    except ValueError:
        raise SettingsError(f"{name} must be a port number, not {value!r}") from None
    if not 0 <= port <= 65535:
        raise SettingsError(f"{name} must be between 0 and 65535, not {port}")
    return port


def _flag(value: str | None, name: str) -> bool:
    if value is None or value == "":
        return False
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise SettingsError(f"{name} must be true or false, not {value!r}")


def primary_ipv4() -> str | None:
    """This network namespace's first global IPv4 address: the pod IP when POD_IP is not set."""
    try:
        output = subprocess.run(["ip", "-j", "-4", "addr", "show", "scope", "global"], capture_output=True,
                                text=True, timeout=5).stdout
        for link in json.loads(output or "[]"):
            for address in link.get("addr_info", []):
                if address.get("local"):
                    return str(address["local"])
    except (OSError, ValueError, subprocess.TimeoutExpired):
        pass
    return None


def _new_state_dir() -> str:
    import tempfile  # a launcher in a pod, or given --state-dir, never needs it

    return tempfile.mkdtemp(prefix="kvtui-launcher-")
