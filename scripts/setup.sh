#!/usr/bin/env bash
# Installs what kvtui needs: Debian packages (when apt-get exists) and a Python virtualenv in .venv.
# Idempotent: a second run with nothing changed takes a second.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
# Debian packages the product and its tests use.
APT_PACKAGES=(iproute2 tmux)

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

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup: kvtui needs Python 3.11 or newer; $PYTHON is $("$PYTHON" --version 2>&1)" >&2
    exit 1
fi
[ -x "$VENV/bin/python" ] || { echo "setup: creating $VENV"; "$PYTHON" -m venv "$VENV"; }

stamp="$VENV/.kvtui-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: installing Python packages into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -e '.[dev]'
    touch "$stamp"
fi
