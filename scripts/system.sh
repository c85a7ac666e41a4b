#!/usr/bin/env bash
# Helpers shared by the README's scripts for a stock Debian/Ubuntu machine: Debian packages
# (with sudo unless root) and a private virtual environment made by the system's python3.
# Sourced, not run. Nothing is ever pip-installed into the system Python.

install_debian_package() {  # command debian-package [glob]: installed unless the command exists
    command -v "$1" >/dev/null 2>&1 && return 0                       # (on PATH, or at the glob)
    [ -n "${3:-}" ] && compgen -G "$3" >/dev/null && return 0
    apt_install "$2"
}

apt_install() {  # debian-package
    echo "==> installing $1 (Debian package)"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "error: $1 is missing and this user cannot install it; as root run:" >&2
            echo "    apt-get install $1" >&2
            return 1
        fi
        sudo="sudo"
    fi
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$1" >/dev/null
}

require_python() {  # OmniQ needs CPython 3.11 or newer as python3
    install_debian_package python3 python3
    if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "error: OmniQ needs Python 3.11 or newer; python3 is $(python3 -V 2>&1)." >&2
        echo "    Install a newer python3 (e.g. apt-get install python3.11) and put it first on PATH." >&2
        return 1
    fi
}

make_venv() {  # directory: a virtual environment of the system's python3, made once
    [ -x "$1/bin/python" ] && return 0
    require_python
    if ! python3 -m venv "$1" >/dev/null 2>&1; then
        # Debian and Ubuntu ship venv's pip (ensurepip) in a separate package
        rm -rf "$1"
        local minor
        minor="$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
        apt_install "python${minor}-venv"
        python3 -m venv "$1"
    fi
}
