"""What a node's fork server imports once for every launcher it starts (see the node agent's
`shim.py --fork-server`): the modules `python -m launcher` needs, without running any of them.

Never import `launcher.early` or `launcher.__main__` from here: the first binds the pod's health
port at import time, so it must be imported by each launcher itself, inside its pod.
"""

from __future__ import annotations

import argparse  # noqa: F401
import asyncio  # noqa: F401

import libvirt_qemu  # noqa: F401
import pycdlib  # noqa: F401

import launcher.acceleration  # noqa: F401
import launcher.hypervisor  # noqa: F401
import launcher.lifecycle  # noqa: F401
import launcher.reporting  # noqa: F401 - and with it launcher.kubeapi
import launcher.settings  # noqa: F401
