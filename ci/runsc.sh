#!/usr/bin/env bash
# ci/runsc.sh: fetch gVisor's runsc from Debian into our own cache, without installing anything.
#
#   ci/runsc.sh            prints the path of runsc, fetching it first when the cache has none
#   ci/runsc.sh --refresh  looks the package up again (a newer build of the suite replaces ours)
#
# Debian's bookworm runsc (0.0~20221219) predates the socket behaviour we compare; trixie's
# (0.0~20240729) unpacks and runs on bookworm (a static Go binary). The package comes through a
# private apt configuration (its own sources, lists and cache; apt verifies the download against
# the suite's signed index with the host's Debian keyring), and is unpacked with dpkg -x: the
# host's apt sources and installed packages are not touched. tcpconform finds runsc through
# $TCPCONFORM_RUNSC, then $CACHE/usr/bin/runsc, then PATH.
#
# Environment: TCPCONFORM_RUNSC_CACHE (default ~/.cache/tcpconform/runsc),
#   TCPCONFORM_RUNSC_SUITE (default trixie), TCPCONFORM_DEBIAN_MIRROR
#   (default http://deb.debian.org/debian), TCPCONFORM_DEBIAN_KEYRING (default
#   /usr/share/keyrings/debian-archive-keyring.gpg).
set -euo pipefail

CACHE=${TCPCONFORM_RUNSC_CACHE:-$HOME/.cache/tcpconform/runsc}
SUITE=${TCPCONFORM_RUNSC_SUITE:-trixie}
MIRROR=${TCPCONFORM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
KEYRING=${TCPCONFORM_DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
APT=$CACHE/apt

log() { printf 'runsc.sh: %s\n' "$*" >&2; }

refresh=
case ${1:-} in
    --refresh) refresh=1 ;;
    '') ;;
    -h | --help)
        sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        log "unknown argument: $1"
        exit 2
        ;;
esac

if [ -z "$refresh" ] && [ -e "$CACHE/.complete" ] && [ -x "$CACHE/usr/bin/runsc" ]; then
    echo "$CACHE/usr/bin/runsc"
    exit 0
fi

for tool in apt-get dpkg-deb; do
    command -v "$tool" >/dev/null || {
        log "needs $tool (Debian or Ubuntu)"
        exit 1
    }
done
[ -r "$KEYRING" ] || {
    log "no Debian archive keyring at $KEYRING (TCPCONFORM_DEBIAN_KEYRING names another)"
    exit 1
}

mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/etc/preferences.d"
cat >"$APT/sources.list" <<EOF
deb [arch=amd64 signed-by=$KEYRING] $MIRROR $SUITE main
EOF
apt_opts=(
    -o "Dir::Etc::sourcelist=$APT/sources.list"
    -o "Dir::Etc::sourceparts=-"
    -o "Dir::Etc::preferencesparts=$APT/etc/preferences.d"
    -o "Dir::State::lists=$APT/lists"
    -o "Dir::Cache=$APT/cache"
    -o "Dir::Cache::pkgcache=$APT/cache/pkgcache.bin"
    -o "Dir::Cache::srcpkgcache="
    -o "APT::Get::List-Cleanup=0"
    -o "Acquire::Languages=none"
)
if [ "$(id -u)" -eq 0 ]; then apt_opts+=(-o APT::Sandbox::User=root); fi

try=1
until apt-get "${apt_opts[@]}" update --error-on=any >"$APT/update.log" 2>&1; do
    if ((try >= 3)); then
        grep -E '^(W|E):' "$APT/update.log" >&2 || cat "$APT/update.log" >&2
        log "apt-get update failed $try times"
        exit 1
    fi
    sleep $((2 ** try))
    try=$((try + 1))
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tcpconform-runsc.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get "${apt_opts[@]}" download runsc >&2)
deb=$(ls "$tmp"/runsc_*.deb)
version=$(dpkg-deb -f "$deb" Version)
rm -rf "$tmp/root"
dpkg-deb -x "$deb" "$tmp/root"
"$tmp/root/usr/bin/runsc" --version >/dev/null 2>&1 || {
    log "runsc $version from $SUITE does not run here: $("$tmp/root/usr/bin/runsc" --version 2>&1 | sed -n 1,2p)"
    exit 1
}
rm -rf "$CACHE/usr" "$CACHE/.complete"
mv "$tmp/root/usr" "$CACHE/usr"
printf '%s %s\n' "$SUITE" "$version" >"$CACHE/.complete"
log "runsc $version ($SUITE) in $CACHE/usr/bin/runsc"
echo "$CACHE/usr/bin/runsc"
