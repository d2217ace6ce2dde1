"""The verbs that reach a running guest through its launcher: console, pause, unpause, ssh.

All of them go through the API server's `pods/portforward` to the launcher pod, as virtctl's go
through KubeVirt's subresources; no node address is ever needed.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import termios
import threading
import time
import tty
from pathlib import Path

from cluster.client import APIError, Client, resource_path

from .core.connection import NoCluster, connect, current_namespace
from .core.console_transport import ConsoleSession, PortForwardEndpoint, TransportError
from .core.launcher_control import LauncherError, act, endpoint_for_vm, launcher_pod

ESCAPE = b"\x1d"   # Ctrl+], as virtctl
SSH_PORT = 22


def _quiet_port_forward_threads() -> None:
    """The Python client's port-forward pump threads raise when their socket closes at the end of a
    session; that is the normal end here, not an error to print."""
    default = threading.excepthook

    def hook(info: threading.ExceptHookArgs) -> None:
        if info.thread is not None and info.thread.name.startswith("Kubernetes port forward"):
            return
        default(info)

    threading.excepthook = hook


def _target(args: argparse.Namespace) -> tuple[Client, str]:
    return connect(args.kubeconfig, args.context), args.namespace or current_namespace(args.kubeconfig, args.context)


def _fail(message: str, code: int = 1) -> int:
    print(f"kvtui: {message}", file=sys.stderr)
    return code


def _vmi_name(kind_and_name: list[str]) -> str:
    """`pause vm NAME`, `pause vmi NAME` or just `pause NAME`: the VMI has the VM's name."""
    if len(kind_and_name) == 2 and kind_and_name[0] in ("vm", "vmi", "virtualmachine", "virtualmachineinstance"):
        return kind_and_name[1]
    if len(kind_and_name) == 1:
        return kind_and_name[0]
    raise ValueError("give the VM as 'vm NAME', 'vmi NAME' or 'NAME'")


def _wait_for_endpoint(client: Client, namespace: str, name: str, timeout: float):
    """The launcher endpoint once the VMI runs, retrying each second (as virtctl console does)."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        try:
            vmi = client.get(resource_path("kubevirt.io", "v1", "virtualmachineinstances", namespace, name))
            phase = (vmi.get("status") or {}).get("phase", "")
            if phase in ("Succeeded", "Failed"):
                raise LauncherError(f'VirtualMachineInstance "{namespace}/{name}" has ended ({phase}); start the VM '
                                    "again to reach its console")
            if phase == "Running":
                return endpoint_for_vm(client, namespace, name)
            last = f"it is {phase or 'Pending'}"
        except APIError as exc:
            if exc.status != 404:
                raise
            last = "it does not exist yet"
        except LauncherError as exc:
            if "has ended" in str(exc):
                raise
            last = str(exc)
        if time.monotonic() > deadline:
            raise LauncherError(f'timed out after {timeout:.0f} s waiting for VirtualMachineInstance "{namespace}/{name}" '
                                f"to run ({last})")
        time.sleep(1)


def cmd_console(args: argparse.Namespace) -> int:
    _quiet_port_forward_threads()
    try:
        client, namespace = _target(args)
        endpoint = _wait_for_endpoint(client, namespace, args.name, args.timeout * 60)
        session = _connect_console(endpoint, args.timeout * 60)
    except (NoCluster, LauncherError, TransportError) as exc:
        return _fail(str(exc))
    except APIError as exc:
        return _fail(exc.message)
    print(f"Successfully connected to {args.name} console. Press Ctrl+] to exit console.", file=sys.stderr)
    return _pump(session)


def _connect_console(endpoint: PortForwardEndpoint, timeout: float) -> ConsoleSession:
    deadline = time.monotonic() + max(timeout, 10)
    while True:
        session = ConsoleSession(endpoint)
        try:
            session.connect()
            return session
        except TransportError as exc:
            if time.monotonic() > deadline or "409" not in str(exc) and "not running" not in str(exc):
                raise
            time.sleep(1)


def _pump(session: ConsoleSession) -> int:
    """Raw terminal both ways until Ctrl+] or the console closes; the terminal is always restored."""
    stdin = sys.stdin.fileno()
    is_tty = os.isatty(stdin)
    saved = termios.tcgetattr(stdin) if is_tty else None
    result = {"code": 0, "why": ""}
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            event = session.receive()
            if event.kind == "data":
                os.write(sys.stdout.fileno(), event.data)
            elif event.kind == "notice":
                os.write(sys.stdout.fileno(), f"\r\n[kvtui: {event.text}]\r\n".encode())
                if event.taken_over:
                    result.update(code=1, why="another client took over the console")
            else:
                if not done.is_set() and not result["why"]:   # closed by the far side, not by Ctrl+]
                    result.update(code=1, why=event.text)
                done.set()

    thread = threading.Thread(target=reader, daemon=True)
    try:
        if is_tty:
            tty.setraw(stdin)
        thread.start()
        while not done.is_set():
            ready, _, _ = select.select([stdin], [], [], 0.2)
            if not ready:
                continue
            data = os.read(stdin, 4096)
            if not data:
                break
            if ESCAPE in data:
                before = data.split(ESCAPE, 1)[0]
                if before:
                    session.send(before)
                done.set()
                result.update(code=0, why="")
                break
            session.send(data)
    finally:
        done.set()
        session.close()
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
    if result["why"]:
        print(f"\nkvtui: {result['why']}", file=sys.stderr)
    return int(result["code"])


def cmd_pause(args: argparse.Namespace, verb: str = "pause") -> int:
    try:
        name = _vmi_name(args.target)
        client, namespace = _target(args)
        print(act(endpoint_for_vm(client, namespace, name), verb, name))
        return 0
    except ValueError as exc:
        return _fail(str(exc), 2)
    except (NoCluster, LauncherError) as exc:
        return _fail(str(exc))
    except APIError as exc:
        return _fail(exc.message)


def cmd_unpause(args: argparse.Namespace) -> int:
    return cmd_pause(args, "unpause")


def cmd_ssh(args: argparse.Namespace) -> int:
    import logging

    import paramiko

    logging.getLogger("paramiko").setLevel(logging.CRITICAL)   # its tracebacks are reported as one line below
    _quiet_port_forward_threads()
    user, _, name = args.destination.rpartition("@")
    user = user or args.username or "root"
    try:
        client, namespace = _target(args)
        pod = launcher_pod(client, namespace, name)["metadata"]["name"]
        sock = PortForwardEndpoint(client, namespace, pod, port=args.port).open_socket()
    except (NoCluster, LauncherError, TransportError) as exc:
        return _fail(str(exc))
    except APIError as exc:
        return _fail(exc.message)
    ssh = paramiko.SSHClient()
    ssh.set_missing_host_key_policy(paramiko.AutoAddPolicy())   # VMs are recreated often; keys change
    try:
        pkey = paramiko.PKey.from_path(Path(args.identity).expanduser()) if args.identity else None
    except (OSError, paramiko.SSHException) as exc:
        return _fail(f"cannot read the SSH key {args.identity}: {exc}")
    try:
        ssh.connect(name, port=args.port, username=user, sock=sock, pkey=pkey, look_for_keys=pkey is None,
                    allow_agent=pkey is None and bool(os.environ.get("SSH_AUTH_SOCK")), timeout=20,
                    banner_timeout=20, auth_timeout=20)
    except paramiko.AuthenticationException:
        return _fail(f"SSH to {user}@{name} was refused: the guest does not accept your key; give one with -i, or "
                     "put your public key in the VM's cloud-init (kvtui create vm --ssh-key ...)")
    except (paramiko.SSHException, OSError) as exc:
        return _fail(f"SSH to {user}@{name} failed: {exc}")
    try:
        if args.remote_command:
            _, stdout, stderr = ssh.exec_command(" ".join(args.remote_command), timeout=60)
            sys.stdout.write(stdout.read().decode(errors="replace"))
            sys.stderr.write(stderr.read().decode(errors="replace"))
            return stdout.channel.recv_exit_status()
        channel = ssh.invoke_shell(term=os.environ.get("TERM", "xterm"))
        return _interactive(channel)
    finally:
        ssh.close()


def _interactive(channel) -> int:
    stdin = sys.stdin.fileno()
    saved = termios.tcgetattr(stdin) if os.isatty(stdin) else None
    try:
        if saved is not None:
            tty.setraw(stdin)
        while True:
            ready, _, _ = select.select([channel, stdin], [], [])
            if channel in ready:
                data = channel.recv(4096)
                if not data:
                    break
                os.write(sys.stdout.fileno(), data)
            if stdin in ready:
                data = os.read(stdin, 4096)
                if not data:
                    break
                channel.send(data)
    finally:
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
    return channel.recv_exit_status() if channel.exit_status_ready() else 0


def add_guest_commands(sub: argparse._SubParsersAction, conn: argparse.ArgumentParser) -> None:
    console = sub.add_parser("console", parents=[conn],
                             help="attach to a VM's serial console (Ctrl+] leaves); waits for it to run")
    console.add_argument("name", metavar="VMI")
    console.add_argument("--timeout", type=float, default=5, metavar="MINUTES",
                         help="how long to wait for the VMI to run (default 5 minutes)")
    console.set_defaults(func=cmd_console)
    for verb, fn in (("pause", cmd_pause), ("unpause", cmd_unpause)):
        p = sub.add_parser(verb, parents=[conn], help=f"{verb} a running VM (vm NAME, vmi NAME or NAME)")
        p.add_argument("target", nargs="+", metavar="vm|vmi NAME")
        p.set_defaults(func=fn)
    ssh = sub.add_parser("ssh", parents=[conn], help="SSH into a VM's guest through port-forward")
    ssh.add_argument("destination", metavar="[USER@]VM")
    ssh.add_argument("-l", "--username", help="user name (default root)")
    ssh.add_argument("-i", "--identity", help="private key file (default: your SSH agent and ~/.ssh keys)")
    ssh.add_argument("-p", "--port", type=int, default=SSH_PORT, help="the guest's SSH port (default 22)")
    ssh.add_argument("remote_command", nargs="*", metavar="-- COMMAND",
                     help="a command to run instead of a shell, after --")
    ssh.set_defaults(func=cmd_ssh)
