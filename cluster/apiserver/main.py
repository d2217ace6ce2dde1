"""Starts the embedded API server: datastore, bootstrap objects, CRDs, built-in controllers, HTTPS."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

import yaml
from aiohttp import web

from . import pki
from .controllers.crd_cleanup import CRDCleanup
from .controllers.garbage_collector import GarbageCollector
from .controllers.namespaces import NamespaceController
from .controllers.scheduler import Scheduler
from .errors import APIError
from .registry import WriteOptions
from .server import APIServer, ServerConfig
from .store import Store

log = logging.getLogger("kvtui.apiserver")

BOOTSTRAP_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m cluster.apiserver",
                                description="The embedded Kubernetes-compatible API server of kvtui.")
    p.add_argument("--data-dir", required=True, type=Path, help="where the database, PKI and kubeconfig live")
    p.add_argument("--bind", default="127.0.0.1", help="addresses to listen on, comma-separated; the first one "
                   "goes into the kubeconfig (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=6443, help="HTTPS port (default 6443; 0 picks a free one)")
    p.add_argument("--crds", type=Path, action="append", default=[],
                   help="a directory or file of CustomResourceDefinitions to install at start (repeatable)")
    p.add_argument("--compact-interval", type=float, default=300.0, help="seconds between log compactions")
    p.add_argument("--compact-retain", type=int, default=10000, help="revisions kept by compaction")
    p.add_argument("--kubeconfig", type=Path, help="where to write the admin kubeconfig "
                   "(default DATA_DIR/kubeconfig)")
    p.add_argument("--audit-log", type=Path, help="append one JSON line per resource request (user, verb, "
                   "resource) to this file")
    return p.parse_args(argv)


def bootstrap(server: APIServer) -> None:
    registry = server.registry
    ns_rt = server.types.get("", "v1", "namespaces")
    assert ns_rt is not None
    for name in BOOTSTRAP_NAMESPACES:
        if server.store.get("namespaces", "", name) is None:
            registry.create(ns_rt, "", {"metadata": {"name": name}})


def install_crds(server: APIServer, paths: list[Path]) -> None:
    """Create or update each CRD found under the paths (kustomization files are skipped)."""
    rt = server.types.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    assert rt is not None
    files: list[Path] = []
    for path in paths:
        files += sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    for file in files:
        for doc in yaml.safe_load_all(file.read_text()):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            name = doc["metadata"]["name"]
            existing = server.store.get(rt.key, "", name)
            try:
                if existing is None:
                    server.registry.create(rt, "", doc, WriteOptions())
                else:
                    doc["metadata"]["resourceVersion"] = str(existing.rv)
                    server.registry.update(rt, "", name, doc, WriteOptions())
            except APIError as exc:
                raise SystemExit(f"apiserver: cannot install CRD {name} from {file}: {exc.message}") from exc


async def compaction(store: Store, interval: float, retain: int) -> None:
    while True:
        await asyncio.sleep(interval)
        store.compact(retain)


async def serve(args: argparse.Namespace) -> None:
    data_dir: Path = args.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    binds = [b.strip() for b in args.bind.split(",") if b.strip()]
    creds = pki.ensure_credentials(data_dir, hosts=binds)
    store = Store(data_dir / "state.db")
    server = APIServer(store, ServerConfig(tokens=pki.load_tokens(data_dir),
                                           audit_log=str(args.audit_log) if args.audit_log else None,
                                           data_dir=data_dir,
                                           agent_ca_pem=creds.ca_cert_pem,
                                           agent_token=pki.ensure_streaming_token(data_dir)))
    bootstrap(server)
    install_crds(server, args.crds)
    controllers = [GarbageCollector(server.registry), NamespaceController(server.registry, creds.ca_cert_pem.decode()),
                   CRDCleanup(server.registry), Scheduler(server.registry)]
    tasks = [asyncio.create_task(c.run(), name=c.name) for c in controllers]
    tasks.append(asyncio.create_task(compaction(store, args.compact_interval, args.compact_retain)))

    # handler_cancellation: a watch whose client went away ends at once instead of at its next write.
    runner = web.AppRunner(server.app(), access_log=None, handle_signals=False, handler_cancellation=True,
                           shutdown_timeout=3.0)
    await runner.setup()
    site = web.TCPSite(runner, binds[0], args.port, ssl_context=pki.server_ssl_context(creds), backlog=1024)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    for extra in binds[1:]:  # e.g. the pod network's gateway, so pods reach the API as in-cluster clients do
        await web.TCPSite(runner, extra, port, ssl_context=pki.server_ssl_context(creds), backlog=1024).start()
    host = f"[{binds[0]}]" if ":" in binds[0] else binds[0]
    server.config.address = f"{host}:{port}"
    url = f"https://{host}:{port}"
    kubeconfig_path = args.kubeconfig or data_dir / "kubeconfig"
    pki.write_kubeconfig(kubeconfig_path, pki.kubeconfig(url, creds))
    (data_dir / "apiserver.url").write_text(url + "\n")
    log.info("serving on %s; kubeconfig %s", url, kubeconfig_path)
    print(f"kvtui apiserver ready at {url}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    server.close_watches()
    await runner.cleanup()
    for task in tasks:
        task.cancel()
    store.close()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args))
