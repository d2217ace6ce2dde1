#!/usr/bin/env bash
# Installs what kvtui needs: Debian packages (when apt-get exists) and a Python virtualenv in .venv.
# Idempotent: a second run with nothing changed takes a second.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
# Debian packages the product and its tests use.
APT_PACKAGES=(iproute2 tmux librsvg2-bin)
# The node agent: ip (bridge, netns, veth) from iproute2, nsenter/unshare from util-linux; pgrep in its tests.
APT_PACKAGES+=(util-linux procps)
# The launcher: QEMU, libvirt's QEMU driver (used embedded, no daemon), qemu-img, passt for masquerade
# networking, libvirt headers + pkg-config to build libvirt-python; the demo guest: the cloud kernel,
# busybox and dropbear, SYSLINUX and the FAT tools for its boot disk; the ssh client its tests log in with.
APT_PACKAGES+=(qemu-system-x86 qemu-utils libvirt-daemon libvirt-daemon-driver-qemu libvirt-dev pkg-config
               passt busybox-static linux-image-cloud-amd64 dropbear-bin syslinux mtools dosfstools
               openssh-client)

need_apt=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$p")
done
if ((${#need_apt[@]})); then
    if ! command -v apt-get >/dev/null; then
        echo "setup: this host has no apt-get; install these packages by other means: ${need_apt[*]}" >&2
        exit 1
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "setup: installing ${need_apt[*]} needs root; run 'sudo $0' once" >&2
        exit 1
    fi
    echo "setup: installing Debian packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# libvirt's QEMU driver refuses to start without its system user and group, even when told to run
# QEMU as root (the launcher's qemu.conf does).
if [ "$(id -u)" = 0 ]; then
    getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
    getent passwd libvirt-qemu >/dev/null || useradd --system --gid libvirt-qemu --no-create-home \
        --home-dir /var/lib/libvirt --shell /usr/sbin/nologin libvirt-qemu
fi

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup: kvtui needs Python 3.11 or newer; $PYTHON is $("$PYTHON" --version 2>&1)" >&2
    exit 1
fi
[ -x "$VENV/bin/python" ] || { echo "setup: creating $VENV"; "$PYTHON" -m venv "$VENV"; }

stamp="$VENV/.kvtui-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "$0" -nt "$stamp" ]; then
    echo "setup: installing Python packages into $VENV"
    # compat: the editable install is a plain path entry; setuptools' default import hook would add
    # ~18 ms to the start of every Python process (each launcher pod, each kvtui command).
    "$VENV/bin/pip" install -q --disable-pip-version-check -e '.[dev]' --config-settings editable_mode=compat
    touch "$stamp"
fi
# Byte-compile kvtui's own modules (pip did the installed packages'): with PYTHONDONTWRITEBYTECODE
# set, as on some hosts, every launcher and kvtui command would otherwise compile them anew, which
# costs CPU and leaves about 1.5 MiB more in each launcher. Only changed files are recompiled.
"$VENV/bin/python" -m compileall -q kvtui cluster launcher >/dev/null || echo "setup: could not byte-compile kvtui's modules (each start compiles them)" >&2
# Launcher pods run `python -OO` (no docstrings: about 2 MiB less per launcher), which reads its own
# byte-code files (*.opt-2.pyc): compile the launcher's, and those of every module it imports at its
# start, standard library included (importing writes them), so that no launcher compiles its imports.
"$VENV/bin/python" -OO -m compileall -q -o 2 launcher >/dev/null \
    && env -u PYTHONDONTWRITEBYTECODE "$VENV/bin/python" -OO -c 'import launcher.preload' \
    || echo "setup: could not byte-compile the launcher for python -OO (each launcher start compiles it)" >&2
