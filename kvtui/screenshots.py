"""`python -m kvtui.screenshots [DIR]`: regenerate the README's pictures (SVG, and PNG when
`rsvg-convert` exists) of the VM list, the detail screen, a console, logs, describe and the create
form, from a real embedded cluster started for the purpose in a temporary directory."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cluster.embedded import REPO_ROOT, ClusterError, EmbeddedCluster

SIZE = (120, 34)
VMS = "/apis/kubevirt.io/v1/namespaces/default/virtualmachines"


def _start(data_dir: Path) -> tuple[EmbeddedCluster, subprocess.Popen]:
    cluster = EmbeddedCluster(data_dir)
    try:
        cluster.start(port=0, nodes=1)
    except (ClusterError, TypeError) as exc:    # no node agent here: pictures without a running guest
        print(f"screenshots: no node agent ({exc}); the console will show no booted guest", file=sys.stderr)
        cluster.stop()
        cluster.start(port=0)
    reconciler = subprocess.Popen([sys.executable, "-m", "cluster.reconciler", "--kubeconfig",
                                   str(cluster.kubeconfig)], cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
    return cluster, reconciler


def _seed(client) -> None:
    import yaml

    from kvtui.core.vm_templates import VMOptions, vm_manifest
    demo = yaml.safe_load((REPO_ROOT / "manifests" / "examples" / "vm-demo.yaml").read_text())
    demo["metadata"]["namespace"] = "default"
    client.create(VMS, demo)
    for name, strategy, cpu, memory in (("db", "Halted", 2, "1Gi"), ("web", "Halted", 2, "512Mi")):
        client.create(VMS, vm_manifest(VMOptions(name=name, run_strategy=strategy, cpu=cpu, memory=memory)))


def _wait_running(client, name: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ((client.get(f"{VMS}/{name}").get("status") or {}).get("printableStatus")) == "Running":
            return True
        time.sleep(1)
    return False


async def _shoot(app, out: Path, wait_running: bool) -> list[Path]:
    shots: list[Path] = []

    def save(name: str) -> None:
        path = out / f"{name}.svg"
        path.write_text(app.export_screenshot(title=f"kvtui — {name}"))
        shots.append(path)

    async with app.run_test(size=SIZE) as pilot:
        while len(app._shown) < 3:
            await pilot.pause(0.05)
        await pilot.pause(0.5)
        save("list")
        app.query_one("#table").move_cursor(row=[n for _, n in app._shown].index("demo"))
        await pilot.press("enter")
        await pilot.pause(1.0)
        save("detail")
        tabs = app.screen.query_one("#tabs")
        tabs.active = "logs"
        await pilot.pause(1.5)
        save("logs")
        tabs.active = "describe"
        await pilot.pause(0.5)
        save("describe")
        tabs.active = "overview"
        await pilot.press("escape")
        await pilot.press("a")
        await pilot.pause(3.0 if wait_running else 1.0)
        if wait_running:
            await pilot.press("enter")
            await pilot.pause(1.0)
            for key in "uname -a":
                await pilot.press(key if key != " " else "space")
            await pilot.press("enter")
            await pilot.pause(1.0)
        save("console")
        await pilot.press("ctrl+right_square_bracket")
        await pilot.pause(0.3)
        await pilot.press("c")
        await pilot.pause(0.3)
        save("create-form")
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kvtui.screenshots", description=__doc__)
    parser.add_argument("out", nargs="?", type=Path, default=REPO_ROOT / "screenshots")
    parser.add_argument("--boot-timeout", type=float, default=90, help="seconds to wait for the demo VM to run")
    args = parser.parse_args(argv)
    from kvtui.app.main import Connection, KvtuiApp
    from kvtui.core.cluster_info import read_info
    from kvtui.core.connection import connect

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kvtui-screenshots-") as tmp:
        cluster, reconciler = _start(Path(tmp) / "cluster")
        try:
            client = connect(str(cluster.kubeconfig))
            _seed(client)
            running = _wait_running(client, "demo", args.boot_timeout)
            if not running:
                print("screenshots: the demo VM did not reach Running; the console picture shows its state",
                      file=sys.stderr)
            app = KvtuiApp(Connection(client, read_info(str(cluster.kubeconfig))))
            shots = asyncio.run(_shoot(app, args.out, running))
        finally:
            reconciler.terminate()
            reconciler.wait(10)
            cluster.stop()
    converter = shutil.which("rsvg-convert")
    for svg in shots:
        if converter:
            subprocess.run([converter, str(svg), "-o", str(svg.with_suffix(".png"))], check=False)
        print(svg)
    if not converter:
        print("screenshots: rsvg-convert not found (Debian package librsvg2-bin): SVG only", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
