# ci/lib/apt.sh: installing Debian packages without changing what the machine already had.
# Sourced by ci/setup.sh and ci/kernels.sh (bash). Needs root, or sudo.
#
#   apt_install_safely PKG...
#       Installs PKG... (and what they depend on) only if apt would neither remove nor downgrade
#       a package that is already installed: apt-get -s shows the plan first. When the plan
#       would, and an installed package of the same family comes from the release's backports
#       (a version with ~bpo, as Debian's images install qemu-utils), the same plan is tried
#       with PKG... taken from that backports suite, through a private apt configuration (the
#       host's sources plus backports, lists of its own; the host's apt sources are not
#       changed). Otherwise it refuses, says what apt would remove or downgrade, and returns 1.
#
# Environment: TCPCONFORM_DEBIAN_MIRROR (default http://deb.debian.org/debian),
#   TCPCONFORM_APT_STATE (private lists; default ~/.cache/tcpconform/apt-host).

_apt_log() { printf 'apt: %s\n' "$*" >&2; }

_apt_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        _apt_log "need root (or sudo) for: $*"
        return 1
    fi
}

# _apt_plan_harms PLAN: prints, one per line, what a plan of `apt-get -s install` would remove
# ("remove PKG VERSION") or downgrade ("downgrade PKG FROM -> TO"); nothing when it does
# neither.
_apt_plan_harms() {
    local line name old new
    while IFS= read -r line; do
        case $line in
            Remv\ *)
                name=$(awk '{print $2}' <<<"$line")
                old=$(sed -n 's/^Remv [^ ]* \[\([^]]*\)\].*/\1/p' <<<"$line")
                echo "remove $name $old"
                ;;
            Inst\ *\[*\]\ \(*)
                # An installed package replaced by another version: Inst NAME [OLD] (NEW ...)
                name=$(awk '{print $2}' <<<"$line")
                old=$(sed -n 's/^Inst [^ ]* \[\([^]]*\)\].*/\1/p' <<<"$line")
                new=$(sed -n 's/^Inst [^ ]* \[[^]]*\] (\([^ ]*\) .*/\1/p' <<<"$line")
                if [ -n "$old" ] && [ -n "$new" ] && dpkg --compare-versions "$new" lt "$old"; then
                    echo "downgrade $name $old -> $new"
                fi
                ;;
        esac
    done <<<"$1"
}

# _apt_try OPTS... -- PKG...: simulates, and installs when nothing would be harmed. Returns 0
# when installed, 1 when the plan would harm (printed into _APT_HARMS), 2 when apt failed.
_APT_HARMS=
_apt_try() {
    local opts=() plan
    while [ "$1" != -- ]; do
        opts+=("$1")
        shift
    done
    shift
    plan=$(_apt_root env DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" -s -q \
        install --no-install-recommends "$@" 2>&1) || {
        _APT_HARMS=$(grep -E '^(E|W):|unmet|Depends:' <<<"$plan" | head -5)
        return 2
    }
    _APT_HARMS=$(_apt_plan_harms "$plan")
    [ -z "$_APT_HARMS" ] || return 1
    _apt_root env DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" install -y -q \
        --no-install-recommends "$@" >&2 || return 2
}

# _apt_backports_suite PKG...: the backports suite an installed package of PKG's family comes
# from (its version has ~bpo), or nothing.
_apt_backports_suite() {
    local codename family p v
    codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
    [ -n "$codename" ] || return 0
    for p in "$@"; do
        family=${p%%-*}
        while read -r v; do
            case $v in *~bpo*)
                echo "$codename-backports"
                return 0
                ;;
            esac
        done < <(dpkg-query -W -f='${Version}\n' "$family-*" 2>/dev/null)
    done
}

# _apt_with_backports SUITE PKG...: the plan again with those of PKG... that SUITE has taken
# from it, through a private configuration (host sources + SUITE); a dependency apt says must
# come from SUITE too
# (qemu-system-x86 needs qemu-system-common of its own version) is added, and so on.
_apt_with_backports() {
    local suite=$1 state mirror opts sel=() plan dep added try
    shift
    state=${TCPCONFORM_APT_STATE:-$HOME/.cache/tcpconform/apt-host}
    mirror=${TCPCONFORM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
    mkdir -p "$state/lists/partial"
    {
        [ -f /etc/apt/sources.list ] && cat /etc/apt/sources.list
        echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main"
    } >"$state/sources.list"
    opts=(-o "Dir::Etc::SourceList=$state/sources.list" -o "Dir::State::Lists=$state/lists")
    _apt_root apt-get "${opts[@]}" -q update >"$state/update.log" 2>&1 || {
        _APT_HARMS="fail to read $suite (see $state/update.log)"
        return 2
    }
    # Only what SUITE has is taken from it (busybox-static, cpio, kmod have no backports). The
    # answer is read whole: `| grep -q` would stop reading early, and under pipefail the
    # pipeline would fail.
    for dep in "$@"; do
        if [[ $(apt-cache "${opts[@]}" madison "$dep" 2>/dev/null) == *" $suite/"* ]]; then
            sel+=("$dep/$suite")
        else
            sel+=("$dep")
        fi
    done
    for try in 1 2 3 4 5 6 7 8; do
        plan=$(_apt_root env DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" -s -q \
            install --no-install-recommends "${sel[@]}" 2>&1) && break
        added=
        for dep in $(sed -n 's/.*Depends: \([a-z0-9.+-]*\) .* but .*/\1/p' <<<"$plan"); do
            case " ${sel[*]} " in *" $dep/$suite "*) continue ;; esac
            sel+=("$dep/$suite")
            added=1
        done
        if [ -z "$added" ]; then
            _APT_HARMS="leave dependencies unmet: $(grep -E 'Depends:' <<<"$plan" | head -3 | tr -s ' ')"
            return 2
        fi
    done
    _apt_try "${opts[@]}" -- "${sel[@]}"
}

apt_install_safely() {
    local rc suite
    _apt_try -- "$@" && return 0
    rc=$?
    if [ "$rc" = 2 ]; then
        # Stale lists: update once, and plan again.
        _apt_root apt-get update -q >&2 || true
        _apt_try -- "$@" && return 0
        rc=$?
    fi
    if [ "$rc" = 1 ]; then
        suite=$(_apt_backports_suite "$@")
        if [ -n "$suite" ]; then
            _apt_log "installing $* from the archive would $(tr '\n' ';' <<<"$_APT_HARMS"); trying $suite, where the installed packages of that family come from"
            _apt_with_backports "$suite" "$@" && return 0
        fi
    fi
    _apt_log "refusing to install $*: apt would $(tr '\n' ';' <<<"$_APT_HARMS")"
    _apt_log "nothing was changed; install a version of $* that fits the installed packages, then run this again"
    return 1
}
