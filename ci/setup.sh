#!/usr/bin/env bash
# Sets up a fresh Debian machine for tcpconform: the one system tool the harness runs besides
# the kernel, `nft` (Debian package nftables; the fixture ops peer_vanishes and peer_reboots
# drop a connection's segments with it), cc and python3 for the exported reproducers' tests
# (installed only when missing), and gVisor's runsc for the gVisor tests, unpacked into
# ~/.cache/tcpconform/runsc by ci/runsc.sh (nothing installed). Idempotent; needs root only
# when something is missing. The Rust toolchain is assumed (cargo on PATH). With CI=true a
# runsc that cannot be fetched is an error; otherwise the gVisor tests skip, saying why.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

if ! have cargo; then
    echo "setup: cargo is not on PATH; install a Rust toolchain (https://rustup.rs) first" >&2
    exit 1
fi
if ! have nft; then
    echo "setup: installing nftables (for peer_vanishes / peer_reboots)" >&2
    # Never removes or downgrades a package the machine has (ci/lib/apt.sh).
    # shellcheck source=ci/lib/apt.sh
    . "$(dirname "$0")/lib/apt.sh"
    for attempt in 1 2 3; do
        if apt_install_safely nftables >/dev/null; then
            break
        fi
        [ "$attempt" = 3 ] && { echo "setup: could not install nftables" >&2; exit 1; }
        sleep 5
    done
fi
# The export tests build and run the reproducers: a C compiler and python3 (Debian's gcc and
# python3; the Rust toolchain usually brought cc already).
for pair in cc:gcc python3:python3; do
    if ! have "${pair%%:*}"; then
        echo "setup: installing ${pair#*:} (for the exported reproducers)" >&2
        # shellcheck source=ci/lib/apt.sh
        . "$(dirname "$0")/lib/apt.sh"
        apt_install_safely "${pair#*:}" >/dev/null ||
            { echo "setup: could not install ${pair#*:}" >&2; exit 1; }
    fi
done
if runsc=$("$(dirname "$0")/runsc.sh"); then
    runsc_version=$("$runsc" --version 2>/dev/null | sed -n 1p)
else
    [ "${CI:-}" = true ] && { echo "setup: could not fetch runsc (ci/runsc.sh)" >&2; exit 1; }
    echo "setup: no runsc (ci/runsc.sh failed): the gVisor tests will skip" >&2
    runsc_version="no runsc"
fi
echo "setup: ok ($runsc_version, cargo $(cargo --version | cut -d' ' -f2), $(nft --version 2>/dev/null || /usr/sbin/nft --version))"
