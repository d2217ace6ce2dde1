"""`kvtui images build demo`: the command-line verbs for built-in guest images, kept beside the
images so the kvtui CLI only mounts them (`add_images_command(subparsers)`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from launcher.images.demo import DemoBuildError, build_demo_image
from launcher.volumes.image_store import default_image_store

BUILDERS = {"demo": build_demo_image}


def add_images_command(subparsers: Any) -> None:
    images = subparsers.add_parser("images", help="guest images in the local image store")
    actions = images.add_subparsers(dest="images_command", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="build a built-in guest image (skipped when up to date)")
    build.add_argument("name", choices=sorted(BUILDERS), help="the image: demo (kvtui/demo:latest)")
    build.add_argument("--force", action="store_true", help="rebuild even when up to date")
    build.add_argument("--authorized-keys", type=Path, metavar="FILE",
                       help="an authorized_keys file to bake in for root's SSH logins")
    build.add_argument("--store", type=Path, default=None,
                       help=f"the image store (default $KVTUI_IMAGE_STORE or {default_image_store()})")
    build.set_defaults(func=cmd_images_build)


def cmd_images_build(args: argparse.Namespace) -> int:
    try:
        keys = args.authorized_keys.read_text() if args.authorized_keys else ""
        BUILDERS[args.name](args.store, authorized_keys=keys, force=args.force,
                            progress=lambda line: print(f"{args.name}: {line}", flush=True))
    except OSError as exc:
        print(f"kvtui: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    except DemoBuildError as exc:
        print(f"kvtui: {exc}", file=sys.stderr)
        return 1
    return 0
