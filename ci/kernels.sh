#!/usr/bin/env bash
# ci/kernels.sh: run one static test binary under several Debian kernels (qemu, TCG) and on the host.
# See ci/kernels/README.md for the layout, the kernels' configs and measured times.
set -euo pipefail

usage() {
    cat <<'EOF'
usage:
  ci/kernels.sh fetch [--refresh] [SERIES...]
      Download Debian kernel packages (cloud flavour) for SERIES (default: 6.1 6.12 7.x) through a
      private apt configuration, unpack them and extract an uncompressed vmlinux. Nothing is
      installed as a host kernel and the host's apt sources are not touched. A series resolved
      less than TCPCONFORM_KERNEL_MAX_AGE seconds ago (default 86400) is not looked up again;
      --refresh looks it up now.

  ci/kernels.sh run [--kernels LIST] [--timeout S] [--boot-timeout S] [--mem M] [--smp N]
                    [--jobs N] [--modules LIST] [--env NAME=VALUE]... [--out DIR]
                    -- BINARY [ARGS...]
      Boot each kernel in LIST (comma-separated; default 6.1,6.12,7.x) with a busybox initramfs
      that runs BINARY ARGS, and collect OUT/<kernel>/{output.txt,rc,seconds,console.txt,meta}.
      LIST items: 6.1, 6.12, 7.x (fetched on demand), an exact kernel release already in the
      cache, or host (BINARY runs directly here, prefixed by $TCPCONFORM_HOST_RUNNER, e.g. "sudo -E").
      BINARY must be statically linked:
        RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target x86_64-unknown-linux-gnu
      Defaults: --timeout 600 (whole run), --boot-timeout 60 (until BINARY starts), --mem 512,
      --smp 2, --jobs 1, --modules tcp_diag,udp_diag,veth,nf_tables,sch_netem (loaded if =m;
      dependencies follow), --out $CARGO_TARGET_DIR/kernels or target/kernels.
      Exit status: 0 when every kernel ran BINARY to rc=0; 1 otherwise; 2 for usage errors.

  ci/kernels.sh matrix [--kernels LIST] [--cases N] [--seed S] [--jobs N] [--timeout S]
                       [--binary PATH] [--out DIR] [-- TCPCONFORM-RUN-OPTIONS...]
      The conformance campaign on each kernel: builds tcpconform statically (unless --binary
      names one), then runs `tcpconform run --cases N --seed S --print-scenario` under each
      kernel of LIST (default 6.1,6.12,7.x,host) as `run` does. One seed (random if not given,
      always printed) for every kernel. Per kernel, OUT/<release>/ also gets `result`
      (verdict, cases, calls, distinct divergences, times) and `found-N.scn` (each distinct
      divergence's shrunk counterexample). Then each kernel replays every scenario of --scenarios DIR (default
      tests/scenarios; `none` skips this) with `tcpconform replay --across` (each file with
      the model for that kernel), into OUT/scenarios/<release>/. OUT/matrix.md holds both
      summary tables, and is printed. --cases 0 skips the campaign. Defaults: --cases 2000,
      --timeout 300+N, --jobs 1. Exit status as for run.

  ci/kernels.sh run ... --file PATH ...
      (run option, repeatable) copies PATH into the initramfs as /opt/test/files/; the binary
      runs in /opt/test (on the host: in OUT/host-<release>/), so it reads files/NAME.

  ci/kernels.sh info [SERIES|RELEASE...]
      Print a Markdown table of the test-relevant kernel config options of fetched kernels.

Environment: TCPCONFORM_KERNEL_CACHE (default ~/.cache/tcpconform/kernels),
  TCPCONFORM_KERNEL_FLAVOUR (default cloud-amd64; amd64 gives the generic kernels),
  TCPCONFORM_KERNEL_MAX_AGE, TCPCONFORM_DEBIAN_MIRROR, TCPCONFORM_DEBIAN_SECURITY_MIRROR,
  TCPCONFORM_DEBIAN_KEYRING (trusted keyring to start from), TCPCONFORM_HOST_RUNNER,
  TCPCONFORM_GUEST_TOOLS (host programs copied into each initramfs with their shared
  libraries; default nft).
EOF
}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
CACHE=${TCPCONFORM_KERNEL_CACHE:-$HOME/.cache/tcpconform/kernels}
FLAVOUR=${TCPCONFORM_KERNEL_FLAVOUR:-cloud-amd64}
MAX_AGE=${TCPCONFORM_KERNEL_MAX_AGE:-86400}
MIRROR=${TCPCONFORM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${TCPCONFORM_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
HOST_KEYRING=${TCPCONFORM_DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
ALL_SERIES=(6.1 6.12 7.x)
export PATH="$PATH:/usr/sbin:/sbin" # depmod and modprobe, when not root
export LC_ALL=C

log() { printf 'kernels.sh: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 2
}
have() { command -v "$1" >/dev/null 2>&1; }

# retry CMD...: run CMD up to 3 times, 2 s and then 4 s apart.
retry() {
    local try=1
    until "$@"; do
        if ((try >= 3)); then
            log "giving up after $try tries: $*"
            return 1
        fi
        log "try $try failed, again in $((2 ** try)) s: $*"
        sleep $((2 ** try))
        try=$((try + 1))
    done
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", b - a }'; }

CLEANUP=() # temporary files and directories, removed on exit
cleanup() { rm -rf ${CLEANUP[@]+"${CLEANUP[@]}"}; }
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------
# Host packages

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif have sudo; then
        sudo "$@"
    else
        die "need root (or sudo) for: $*"
    fi
}

is_static() { have ldd && ! ldd "$1" 2>&1 | grep -q '=>'; }

# Installs without removing or downgrading anything the machine had (ci/lib/apt.sh).
# shellcheck source=ci/lib/apt.sh
. "$HERE/lib/apt.sh"

# ensure_deps: install whatever of the tools below is missing (Debian and Ubuntu package names).
ensure_deps() {
    local want=()
    have qemu-system-x86_64 || want+=(qemu-system-x86)
    { have busybox && is_static "$(command -v busybox)"; } || want+=(busybox-static)
    have cpio || want+=(cpio)
    { have modprobe && have depmod; } || want+=(kmod)
    have xz || want+=(xz-utils)
    have zstd || want+=(zstd)
    have lz4 || want+=(lz4)
    have nft || [ -x /usr/sbin/nft ] || want+=(nftables)
    [ -s "$HOST_KEYRING" ] || want+=(debian-archive-keyring)
    ((${#want[@]} == 0)) && return 0
    log "installing ${want[*]}"
    apt_install_safely "${want[@]}" >&2 || die "could not install ${want[*]} without removing or downgrading a package the machine has (see above)"
}

# ---------------------------------------------------------------------------------------------
# Private apt configuration: its own sources.list, lists and cache under $CACHE/apt, no dpkg status.

APT=$CACHE/apt
apt_opts=(
    -o "Dir::Etc::SourceList=$APT/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT/cache" -o Dir::State::status=/dev/null
    -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
    -o Acquire::Languages=none -o Acquire::PDiffs=false -q
    -o Dir::Cache::srcpkgcache=
)
# apt-cache takes about 1 s to parse sid's index without a binary cache; keep one for this run only
# (Docker-style images switch the cache off; it is 70 MB, not worth keeping in $CACHE).
APT_PKGCACHE=
apt_pkgcache() {
    if [ -z "$APT_PKGCACHE" ]; then
        APT_PKGCACHE=$(mktemp -u "${TMPDIR:-/tmp}/tcpconform-pkgcache.XXXXXX")
        apt_opts+=(-o "Dir::Cache::pkgcache=$APT_PKGCACHE")
        CLEANUP+=("$APT_PKGCACHE")
    fi
}
# The downloads land in our own cache, which apt's unprivileged _apt user may not be able to reach.
if [ "$(id -u)" -eq 0 ]; then apt_opts+=(-o APT::Sandbox::User=root); fi

papt_get() { apt-get "${apt_opts[@]}" "$@"; }
papt_cache() { apt-cache "${apt_opts[@]}" "$@"; }

# The keyring that verifies the Debian archive: one taken from the archive itself (see
# refresh_keyring) once there is one, else the host's (Ubuntu ships Debian's keyring too).
keyring() {
    if [ -s "$CACHE/keyring/debian-archive-keyring.gpg" ]; then
        echo "$CACHE/keyring/debian-archive-keyring.gpg"
    else
        echo "$HOST_KEYRING"
    fi
}

write_sources() {
    local opts="arch=amd64 target=Packages signed-by=$1"
    mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial"
    cat >"$APT/sources.list" <<EOF
deb [$opts] $MIRROR bookworm main
deb [$opts] $SECURITY_MIRROR bookworm-security main
deb [$opts] $MIRROR trixie-backports main
deb [$opts] $MIRROR sid main
EOF
}

# refresh_keyring: the host's keyring could not verify every suite (too old a keyring, e.g. on an
# older Ubuntu). Take debian-archive-keyring from the suites it did verify, which apt checks
# against their signed indexes, and use that keyring from now on.
refresh_keyring() {
    local tmp
    tmp=$(mktemp -d)
    log "the keyring $(keyring) does not verify every suite; taking debian-archive-keyring from the archive"
    (cd "$tmp" && retry papt_get download debian-archive-keyring >&2) || {
        rm -rf "$tmp"
        return 1
    }
    dpkg-deb -x "$tmp"/debian-archive-keyring_*.deb "$tmp/x"
    mkdir -p "$CACHE/keyring"
    cp "$tmp/x/usr/share/keyrings/debian-archive-keyring.gpg" "$CACHE/keyring/"
    rm -rf "$tmp"
}

# (gpgv says NO_PUBKEY; the Sequoia verifier of newer apt says "Missing key")
key_trouble() { grep -qE 'NO_PUBKEY|EXPKEYSIG|KEYEXPIRED|Missing key' "$1"; }

# apt_update: refresh the private lists, once per invocation; 3 tries. --error-on=any turns a
# failed index download into an error (apt only warns by default and keeps stale lists).
APT_UPDATED=
apt_update() {
    [ -n "$APT_UPDATED" ] && return 0
    local try=1 out=$CACHE/apt/update.log
    apt_pkgcache
    write_sources "$(keyring)"
    until papt_get update --error-on=any >"$out" 2>&1; do
        if key_trouble "$out" && [ ! -s "$CACHE/keyring/debian-archive-keyring.gpg" ]; then
            grep -E '^(W|E):' "$out" >&2 || true
            refresh_keyring || return 1
            write_sources "$(keyring)"
            continue
        fi
        if ((try >= 3)); then
            grep -E '^(W|E):' "$out" >&2 || cat "$out" >&2
            log "apt-get update failed $try times"
            return 1
        fi
        log "apt-get update failed, again in $((2 ** try)) s"
        sleep $((2 ** try))
        try=$((try + 1))
    done
    APT_UPDATED=1
}

# ---------------------------------------------------------------------------------------------
# Series: which meta package names the current kernel of a series, and which versions belong to it.

is_series() { case $1 in 6.1 | 6.12 | 7.x) return 0 ;; *) return 1 ;; esac; }
series_meta() {
    case $1 in
        6.1 | 7.x) echo "linux-image-$FLAVOUR" ;;
        6.12) echo "linux-image-6.12-$FLAVOUR" ;;
    esac
}
series_glob() {
    case $1 in
        6.1) echo '6.1.*' ;;
        6.12) echo '6.12.*' ;;
        7.x) echo '7.*' ;;
    esac
}

# depends PKG VERSION: the Depends of one version, one alternative per line.
depends() { papt_cache show "$1=$2" | sed -n 's/^Depends: //p' | head -1 | tr ',|' '\n' | sed 's/^ *//; s/ *$//'; }

# resolve SERIES: sets R_VERSION (meta package version), R_KVER (kernel release, `uname -r`) and
# R_PKGS (the packages holding the kernel and its modules, as name=version).
resolve() {
    local meta glob v best='' dep image imgver parts
    meta=$(series_meta "$1")
    glob=$(series_glob "$1")
    # shellcheck disable=SC2254 # $glob is a pattern on purpose
    while read -r v; do
        case $v in $glob) ;; *) continue ;; esac
        if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
    done < <(papt_cache madison "$meta" | awk -F'|' '{ gsub(/ /, "", $2); print $2 }')
    [ -n "$best" ] || {
        log "no version $glob of $meta in bookworm, bookworm-security, trixie-backports or sid"
        return 1
    }
    # The meta package depends on the kernel of the current ABI: linux-image-<release> (= version).
    dep=$(depends "$meta" "$best" | grep -E '^linux-image-' | grep -v "^$meta " | head -1)
    image=${dep%% *}
    [ -n "$image" ] || {
        log "$meta $best depends on no linux-image-<release> package"
        return 1
    }
    imgver=$(sed -n 's/.*(= \(.*\))/\1/p' <<<"$dep")
    [ -n "$imgver" ] || imgver=$best
    R_VERSION=$best
    R_KVER=${image#linux-image-}
    # From 7.x on, linux-image-<release> is empty and depends on linux-{binary,modules,base}-<release>.
    parts=$(depends "$image" "$imgver" | awk -v k="$R_KVER" '
        $1 ~ /^linux-(binary|modules|base)-/ && substr($1, length($1) - length(k) + 1) == k { print $1 }')
    if [ -n "$parts" ]; then
        R_PKGS=$(awk -v v="$imgver" '{ print $0 "=" v }' <<<"$parts")
    else
        R_PKGS="$image=$imgver"
    fi
}

# ---------------------------------------------------------------------------------------------
# The cache: $CACHE/k/<release>/{root/ (the unpacked packages), vmlinuz, vmlinux, config, modroot,
# info, .complete}; $CACHE/debs/<release>/*.deb; $CACHE/series/<series> holds the release last
# resolved for a series (its mtime says when).

kdir_of() { echo "$CACHE/k/$1"; }
kernel_ready() { [ -e "$(kdir_of "$1")/.complete" ]; }

# install_kernel SERIES: download and unpack R_PKGS as $CACHE/k/$R_KVER.
install_kernel() {
    local series=$1 kver=$R_KVER debs=$CACHE/debs/$R_KVER tmp p mr image t0
    t0=$(now)
    if [ ! -e "$debs/.complete" ]; then
        rm -rf "$debs.partial"
        mkdir -p "$debs.partial"
        # shellcheck disable=SC2086 # one name=version per word
        (cd "$debs.partial" && retry papt_get download $R_PKGS >&2) || return 1
        rm -rf "$debs" && mv "$debs.partial" "$debs" && touch "$debs/.complete" || return 1
        log "$series: downloaded $(du -sh "$debs" | cut -f1) in $(elapsed "$t0" "$(now)") s"
    fi
    t0=$(now)
    tmp=$CACHE/k/.partial-$kver
    # (This runs as a condition, where set -e is off: every step checks for itself.)
    rm -rf "$tmp" && mkdir -p "$tmp/root" || return 1
    for p in "$debs"/*.deb; do
        dpkg-deb -x "$p" "$tmp/root" || return 1
    done
    if [ -d "$tmp/root/usr/lib/modules/$kver" ]; then mr=root/usr; else mr=root; fi
    [ -d "$tmp/$mr/lib/modules/$kver" ] || die "$kver: no lib/modules/$kver in $R_PKGS"
    if [ ! -s "$tmp/$mr/lib/modules/$kver/modules.dep" ]; then
        depmod -b "$tmp/$mr" "$kver" || return 1
    fi
    ln -s "$mr" "$tmp/modroot" || return 1
    for image in "root/boot/vmlinuz-$kver" "$mr/lib/modules/$kver/vmlinuz"; do
        if [ -e "$tmp/$image" ] && [ ! -e "$tmp/vmlinuz" ]; then ln -s "$image" "$tmp/vmlinuz"; fi
    done
    for p in "root/boot/config-$kver" "$mr/lib/modules/$kver/config"; do
        if [ -e "$tmp/$p" ] && [ ! -e "$tmp/config" ]; then ln -s "$p" "$tmp/config"; fi
    done
    [ -e "$tmp/vmlinuz" ] || die "$kver: no vmlinuz in $R_PKGS"
    [ -e "$tmp/config" ] || die "$kver: no kernel config in $R_PKGS"
    "$HERE/kernels/extract-vmlinux" "$tmp/vmlinuz" "$tmp/vmlinux" ||
        log "$kver: could not extract vmlinux; runs will boot the compressed vmlinuz"
    {
        echo "series=$series"
        echo "release=$kver"
        echo "version=$R_VERSION"
        echo "packages=$(tr '\n' ' ' <<<"$R_PKGS" | sed 's/ $//')"
        echo "fetched=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    } >"$tmp/info" || return 1
    touch "$tmp/.complete" && rm -rf "$(kdir_of "$kver")" && mv "$tmp" "$(kdir_of "$kver")" || return 1
    log "$series: unpacked $kver in $(elapsed "$t0" "$(now)") s"
}

info_get() { sed -n "s/^$2=//p" "$(kdir_of "$1")/info"; }

# fetch_series SERIES: make sure the cache holds the current kernel of SERIES; print one line.
fetch_series() {
    local s=$1 state=$CACHE/series/$1 kver='' status=cached age
    [ -s "$state" ] && kver=$(cat "$state")
    age=$MAX_AGE
    [ -s "$state" ] && age=$(($(date +%s) - $(stat -c %Y "$state")))
    if [ -n "$REFRESH" ] || [ -z "$kver" ] || ! kernel_ready "$kver" || ((age >= MAX_AGE)); then
        if apt_update && resolve "$s"; then
            if ! kernel_ready "$R_KVER"; then
                install_kernel "$s" || return 1
                status=fetched
            fi
            kver=$R_KVER
            mkdir -p "$CACHE/series"
            echo "$kver" >"$state"
        elif [ -n "$kver" ] && kernel_ready "$kver"; then
            log "$s: could not look up the current kernel; using the cached $kver"
        else
            log "$s: could not fetch a kernel"
            return 1
        fi
    fi
    printf '%-5s %-32s %-22s %-8s %s\n' "$s" "$kver" "$(info_get "$kver" version)" "$status" "$(kdir_of "$kver")"
}

REFRESH=
cmd_fetch() {
    local series=() s rc=0
    while (($#)); do
        case $1 in
            --refresh) REFRESH=1 ;;
            -h | --help) usage && exit 0 ;;
            -*) die "fetch: unknown option $1" ;;
            host) ;; # nothing to fetch
            *) is_series "$1" || die "fetch: unknown series $1 (known: ${ALL_SERIES[*]})" && series+=("$1") ;;
        esac
        shift
    done
    [ ${#series[@]} -gt 0 ] || series=("${ALL_SERIES[@]}")
    ensure_deps
    for s in "${series[@]}"; do fetch_series "$s" || rc=1; done
    return $rc
}

# ---------------------------------------------------------------------------------------------
# info

config_value() { # CONFIG_FILE OPTION -> y, m, a value, n (not set) or - (absent)
    local line
    line=$(grep -E "^(CONFIG_$2=|# CONFIG_$2 is not set)" "$1" || true)
    case $line in
        "") echo - ;;
        "#"*) echo n ;;
        *) echo "${line#*=}" ;;
    esac
}

# kernel_release NAME: the cached release for a series or a release name.
kernel_release() {
    local kver=$1
    if is_series "$1"; then
        kver=$(cat "$CACHE/series/$1" 2>/dev/null) || return 0
    fi
    if kernel_ready "$kver"; then echo "$kver"; fi
}

cmd_info() {
    local names=("$@") n kver c o
    local opts=(NET_NS INET_DIAG INET_DIAG_DESTROY INET_TCP_DIAG INET_UDP_DIAG VETH NF_TABLES NET_SCH_NETEM HZ PVH)
    [ ${#names[@]} -gt 0 ] || names=("${ALL_SERIES[@]}")
    printf '| kernel | package version |'
    printf ' %s |' "${opts[@]}"
    printf '\n|---|---|'
    printf -- '---|%.0s' "${opts[@]}"
    echo
    for n in "${names[@]}"; do
        kver=$(kernel_release "$n")
        [ -n "$kver" ] || die "info: $n is not in the cache (run: ci/kernels.sh fetch $n)"
        c=$(kdir_of "$kver")/config
        printf '| %s | %s |' "$kver" "$(info_get "$kver" version)"
        for o in "${opts[@]}"; do printf ' %s |' "$(config_value "$c" "$o")"; done
        echo
    done
}

# ---------------------------------------------------------------------------------------------
# run

TIMEOUT=600 BOOT_TIMEOUT=60 MEM=512 SMP=2 JOBS=1 OUT='' BINARY=''
MODULES=tcp_diag,udp_diag,veth,nf_tables,sch_netem
ARGS=() ENVS=() KERNELS=() FILES=()
BUSYBOX=
WORK=
RUN_NAMES=() # the result directories of the last cmd_run, in order

# guest_modules KDIR DEST LIST: decompress LIST's modules and their dependencies into DEST, in
# load order, and write their names to DEST/order (modules built in need nothing).
guest_modules() {
    local kdir=$1 dest=$2 kver m f name deps
    kver=$(sed -n 's/^release=//p' "$kdir/info")
    deps=$WORK/$kver.deps # one per kernel: --jobs runs several of these at once
    mkdir -p "$dest" "$kdir/ko"
    : >"$dest/order"
    for m in ${3//,/ }; do
        # one module per modprobe call: further names would be taken as module parameters
        if ! modprobe -d "$kdir/modroot" -S "$kver" --show-depends "$m" >"$deps" 2>&1; then
            log "$kver: no module $m"
            continue
        fi
        while read -r f; do
            name=$(basename "$f")
            name=${name%.ko*}
            grep -qx "$name" "$dest/order" && continue
            if [ ! -s "$kdir/ko/$name.ko" ]; then
                case $f in
                    *.ko.xz) xz -dc "$f" ;;
                    *.ko.zst) zstd -dcq "$f" ;;
                    *.ko.gz) gzip -dc "$f" ;;
                    *) cat "$f" ;;
                esac >"$kdir/ko/$name.ko.tmp.$BASHPID"
                mv "$kdir/ko/$name.ko.tmp.$BASHPID" "$kdir/ko/$name.ko"
            fi
            cp "$kdir/ko/$name.ko" "$dest/$name.ko"
            echo "$name" >>"$dest/order"
        done < <(awk '$1 == "insmod" { print $2 }' "$deps")
    done
}

# add_host_tool NAME ROOT: the host's NAME (a dynamically linked program such as nft) into
# ROOT/bin, with the shared libraries and loader it needs at the paths ldd names.
add_host_tool() {
    local bin lib
    bin=$(PATH=$PATH:/usr/sbin:/sbin command -v "$1") || {
        log "no $1 on this machine; the guests go without it"
        return 0
    }
    cp "$bin" "$2/bin/$1"
    for lib in $(ldd "$bin" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
        mkdir -p "$2$(dirname "$lib")"
        cp -L "$lib" "$2$lib"
    done
}

# copy_files DIR: the --file arguments, into DIR (the binary sees them as files/NAME).
copy_files() {
    ((${#FILES[@]})) || return 0
    mkdir -p "$1"
    cp -r "${FILES[@]}" "$1/"
}

# build_initramfs KDIR OUT: busybox, the init script, the test binary with its arguments and
# environment, and the modules; an uncompressed newc cpio.
build_initramfs() {
    local kdir=$1 out=$2 r a
    r=$(mktemp -d "$WORK/root.XXXX")
    mkdir -p "$r"/{bin,dev,proc,sys,tmp,run,opt/test,etc/tcpconform}
    cp "$BUSYBOX" "$r/bin/busybox"
    # nft: the harness drops a connection's segments with it (peer_vanishes, peer_reboots).
    for a in ${TCPCONFORM_GUEST_TOOLS-nft}; do add_host_tool "$a" "$r"; done
    cp "$HERE/kernels/init" "$r/init"
    chmod 755 "$r/init"
    cp "$BINARY" "$r/opt/test/"
    copy_files "$r/opt/test/files"
    echo "/opt/test/$(basename "$BINARY")" >"$r/etc/tcpconform/binary"
    : >"$r/etc/tcpconform/args"
    for a in ${ARGS[@]+"${ARGS[@]}"}; do printf '%s' "$a" | base64 -w0 >>"$r/etc/tcpconform/args" && echo >>"$r/etc/tcpconform/args"; done
    : >"$r/etc/tcpconform/env"
    for a in ${ENVS[@]+"${ENVS[@]}"}; do printf '%s' "$a" | base64 -w0 >>"$r/etc/tcpconform/env" && echo >>"$r/etc/tcpconform/env"; done
    guest_modules "$kdir" "$r/lib/modules/tcpconform" "$MODULES"
    mv "$r/lib/modules/tcpconform/order" "$r/etc/tcpconform/modules"
    cp "$r/etc/tcpconform/modules" "$out.modules"
    (cd "$r" && find . | cpio -o -H newc -R 0:0 --quiet) >"$out"
    rm -rf "$r"
}

# finish DIR: turn DIR/output.raw into output.txt and rc (a number, or why there is none).
finish() {
    local d=$1 why=$2
    tr -d '\r' <"$d/output.raw" | awk -v rcfile="$d/rc.guest" '
        { line[NR] = $0 }
        !start && $0 == "GUEST-START" { start = NR }
        { if (match($0, /GUEST-EXIT rc=[0-9]+$/)) { stop = NR; at = RSTART } }
        END {
            if (!start) exit
            last = stop ? stop : NR + 1
            for (i = start + 1; i < last; i++) print line[i]
            if (stop) {
                if (at > 1) print substr(line[stop], 1, at - 1)
                print substr(line[stop], at + 14) > rcfile
            }
        }' >"$d/output.txt"
    if [ -s "$d/rc.guest" ]; then
        mv "$d/rc.guest" "$d/rc"
    elif grep -qs '^GUEST-START' "$d/output.raw"; then
        case $why in timeout) echo timeout ;; *) echo guest-crashed ;; esac >"$d/rc"
    else
        case $why in timeout) echo boot-timeout ;; *) echo boot-failed ;; esac >"$d/rc"
    fi
    rm -f "$d/output.raw" "$d/rc.guest"
}

# run_guest NAME: boot the kernel NAME names and run the test binary in it; results in $OUT/<release>.
run_guest() {
    local kver=$1 kdir d image initrd t0 t1 qpid wpid qrc=0 why=exited up
    kdir=$(kdir_of "$kver")
    d=$OUT/$kver
    rm -rf "$d"
    mkdir -p "$d"
    image=$kdir/vmlinux
    [ -s "$image" ] || image=$kdir/vmlinuz
    initrd=$WORK/$kver.cpio
    build_initramfs "$kdir" "$initrd"
    local extra=()
    read -r -a extra <<<"${TCPCONFORM_QEMU_ARGS:-}"
    # RDRAND plus random.trust_cpu=on seeds the guest's CRNG at boot; without them getrandom(2)
    # blocks for 1-3 s in a fresh TCG guest (proptest seeds come from there).
    # shellcheck disable=SC2054 # the commas belong to qemu's option syntax
    local qemu=(qemu-system-x86_64 -accel tcg -cpu qemu64,+rdrand -m "$MEM" -smp "$SMP"
        -nographic -no-reboot -monitor none -nic none
        -serial "file:$d/console.raw" -serial "file:$d/output.raw"
        ${extra[@]+"${extra[@]}"} -kernel "$image" -initrd "$initrd"
        -append "console=ttyS0 panic=-1 quiet random.trust_cpu=on ${TCPCONFORM_KERNEL_CMDLINE:-}")
    {
        cat "$kdir/info"
        echo "image=$image"
        echo "initramfs_bytes=$(stat -c %s "$initrd")"
        echo "modules=$(tr '\n' ' ' <"$initrd.modules" | sed 's/ $//')"
        echo "qemu=${qemu[*]}"
    } >"$d/meta"
    : >"$d/output.raw"
    t0=$(now)
    # (timeout puts itself into a process group of its own, so stop it by its pid.)
    trap '[ -z "${qpid:-}" ] || kill -TERM "$qpid" 2>/dev/null; exit 143' TERM
    timeout -k 5 "$TIMEOUT" "${qemu[@]}" </dev/null >"$d/qemu.log" 2>&1 &
    qpid=$!
    # boot watchdog: stop a guest that has not started the binary after $BOOT_TIMEOUT seconds
    (
        ticks=$((BOOT_TIMEOUT * 5))
        while kill -0 "$qpid" 2>/dev/null; do
            grep -qs '^GUEST-START' "$d/output.raw" && exit 0
            if (((ticks -= 1) < 0)); then
                touch "$d/.boot-timeout"
                kill -TERM "$qpid" 2>/dev/null
                exit 0
            fi
            sleep 0.2
        done
    ) &
    wpid=$!
    wait "$qpid" || qrc=$?
    t1=$(now)
    wait "$wpid" || true
    { [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ] || [ -e "$d/.boot-timeout" ]; } && why=timeout
    rm -f "$d/.boot-timeout" "$initrd" "$initrd.modules"
    elapsed "$t0" "$t1" >"$d/seconds"
    # the console without CRs and without SeaBIOS's screen codes and banner
    tr -d '\r' <"$d/console.raw" | sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g' \
        -e '/^SeaBIOS (version/d; /^iPXE /d' -e 's/^Booting from ROM\.\.//' >"$d/console.txt"
    rm -f "$d/console.raw"
    [ -s "$d/qemu.log" ] || rm -f "$d/qemu.log"
    finish "$d" "$why"
    for up in START EXIT; do
        echo "guest_uptime_at_${up,,}=$(sed -n "s/^GUEST-$up.* uptime=//p" "$d/console.txt" | tail -1)"
    done >>"$d/meta"
}

run_host() {
    local d=$OUT/$1 t0 t1 rc=0 runner=() hpid
    rm -rf "$d"
    mkdir -p "$d"
    read -r -a runner <<<"${TCPCONFORM_HOST_RUNNER:-}"
    {
        echo "release=$(uname -r)"
        echo "runner=${runner[*]}"
    } >"$d/meta"
    t0=$(now)
    trap '[ -z "${hpid:-}" ] || kill -TERM "$hpid" 2>/dev/null; exit 143' TERM
    copy_files "$d/files"
    # In $d, like the guest's binary in /opt/test: relative paths (files/NAME) and what the
    # binary writes (tcpconform-found/) stay with the results.
    (cd "$d" && exec timeout -k 5 "$TIMEOUT" ${runner[@]+"${runner[@]}"} env ${ENVS[@]+"${ENVS[@]}"} \
        "$BINARY" ${ARGS[@]+"${ARGS[@]}"}) </dev/null >"$d/output.txt" 2>&1 &
    hpid=$!
    wait "$hpid" || rc=$?
    t1=$(now)
    elapsed "$t0" "$t1" >"$d/seconds"
    case $rc in 124 | 137) echo timeout ;; *) echo "$rc" ;; esac >"$d/rc"
}

# report NAME DIR: the one-line summary; on failure, the tail of what explains it.
report() {
    local name=$1 d=$2 rc secs
    rc=$(cat "$d/rc" 2>/dev/null || echo harness-error)
    secs=$(cat "$d/seconds" 2>/dev/null || echo 0)
    printf '%-32s  rc=%s  %.1fs\n' "$name" "$rc" "$secs"
    echo "$name  rc=$rc  ${secs}s" >>"$OUT/summary.txt"
    [ "$rc" = 0 ] && return 0
    local f=$d/output.txt
    case $rc in boot-* | guest-crashed | harness-error) f=$d/console.txt ;; esac
    [ -s "$f" ] || f=$d/qemu.log
    if [ -s "$f" ]; then
        log "$name: rc=$rc; last lines of $f:"
        tail -n 25 "$f" | sed 's/^/    /' >&2
    else
        log "$name: rc=$rc; the guest printed nothing (see $d)"
    fi
    return 1
}

cmd_run() {
    local list=6.1,6.12,7.x k kver
    while (($#)); do
        case $1 in
            --kernels) list=${2:?}; shift ;;
            --timeout) TIMEOUT=${2:?}; shift ;;
            --boot-timeout) BOOT_TIMEOUT=${2:?}; shift ;;
            --mem) MEM=${2:?}; shift ;;
            --smp) SMP=${2:?}; shift ;;
            --jobs) JOBS=${2:?}; shift ;;
            --modules) MODULES=${2?}; shift ;;
            --env) [[ ${2:?} == [A-Za-z_]*=* ]] || die "--env wants NAME=VALUE"; ENVS+=("$2"); shift ;;
            --file) [ -e "${2:?}" ] || die "--file $2: no such file"; FILES+=("$(realpath "$2")"); shift ;;
            --out) OUT=${2:?}; shift ;;
            -h | --help) usage && exit 0 ;;
            --) shift && break ;;
            *) die "run: unknown option $1 (the binary comes after --)" ;;
        esac
        shift
    done
    (($#)) || die "run: no binary given (ci/kernels.sh run [options] -- BINARY [ARGS...])"
    BINARY=$(realpath "$1")
    shift
    ARGS=("$@")
    [ -f "$BINARY" ] && [ -x "$BINARY" ] || die "run: $BINARY is not an executable file"
    for k in TIMEOUT BOOT_TIMEOUT MEM SMP JOBS; do
        [[ ${!k} =~ ^[1-9][0-9]*$ ]] || die "run: --$(tr A-Z_ a-z- <<<"$k") wants a positive integer"
    done
    [ -n "$OUT" ] || OUT=${CARGO_TARGET_DIR:-$REPO/target}/kernels
    mkdir -p "$OUT"
    OUT=$(realpath "$OUT")
    : >"$OUT/summary.txt"

    IFS=, read -r -a KERNELS <<<"$list"
    local names=() guest=0
    for k in "${KERNELS[@]}"; do
        [ "$k" = host ] || guest=1
    done
    if ((guest)); then
        is_static "$BINARY" || die "run: $BINARY is dynamically linked; build it static:
    RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target x86_64-unknown-linux-gnu"
        ensure_deps
        BUSYBOX=$(command -v busybox)
    fi
    # Resolve every name to a release first (fetching what the cache lacks), then run.
    for k in "${KERNELS[@]}"; do
        if [ "$k" = host ]; then
            names+=("host-$(uname -r)")
            continue
        fi
        kver=$(kernel_release "$k")
        if [ -z "$kver" ]; then
            is_series "$k" || die "run: unknown kernel $k (series: ${ALL_SERIES[*]}, host, or a cached release)"
            fetch_series "$k" >&2 || die "run: could not fetch $k"
            kver=$(kernel_release "$k")
        fi
        names+=("$kver")
    done

    WORK=$(mktemp -d)
    CLEANUP+=("$WORK")
    RUN_NAMES=("${names[@]}")
    local pids=() started=0 done_=0 fail=0
    # On an interrupt, each running job stops its own qemu (see the TERM traps in run_guest/run_host).
    trap 'for p in ${pids[@]+"${pids[@]}"}; do kill -TERM "$p" 2>/dev/null; done; wait; exit 130' INT TERM
    while ((done_ < ${#names[@]})); do
        while ((started < ${#names[@]} && started - done_ < JOBS)); do
            case ${names[started]} in
                host-*) run_host "${names[started]}" & ;;
                *) run_guest "${names[started]}" & ;;
            esac
            pids+=($!)
            started=$((started + 1))
        done
        wait "${pids[done_]}" || true
        report "${names[done_]}" "$OUT/${names[done_]}" || fail=1
        done_=$((done_ + 1))
    done
    return $fail
}

# ---------------------------------------------------------------------------------------------
# matrix: the conformance campaign (tcpconform run) on every kernel, and a summary table

# build_static: the static tcpconform binary; prints its path.
build_static() {
    local target=${CARGO_TARGET_DIR:-$REPO/target} t0
    t0=$(now)
    log "building the static tcpconform binary (cargo build --release --target x86_64-unknown-linux-gnu)"
    (cd "$REPO" && RUSTFLAGS='-C target-feature=+crt-static' \
        cargo build --release --locked --target x86_64-unknown-linux-gnu -p tcpconform >&2) || return 1
    log "built in $(elapsed "$t0" "$(now)") s"
    echo "$target/x86_64-unknown-linux-gnu/release/tcpconform"
}

# field FILE REGEX: the first capture group of the first line of FILE matching REGEX (ERE), or -.
field() {
    local v
    v=$(sed -nE "s#.*$2.*#\1#p" "$1" 2>/dev/null | head -1)
    echo "${v:--}"
}

# summarize_kernel DIR: DIR/result (key=value) from output.txt; DIR/found-N.scn for each shrunk
# counterexample the campaign printed.
summarize_kernel() {
    local d=$1 out=$1/output.txt rc verdict
    rc=$(cat "$d/rc" 2>/dev/null || echo harness-error)
    case $rc in
        0) verdict=PASS ;;
        1) verdict=DIVERGENCE ;;
        2) verdict=BAD-INPUT ;;
        3) verdict=HARNESS-FAILURE ;;
        *) verdict=$rc ;;
    esac
    rm -f "$d"/found*.scn
    # One file per distinct divergence, as the campaign printed them.
    awk -v d="$d" '/^--- scenario ---$/ { n++; f = sprintf("%s/found-%d.scn", d, n); next }
        /^--- end scenario ---$/ { f = ""; next } f { print > f }' "$out" 2>/dev/null || true
    {
        echo "verdict=$verdict"
        echo "rc=$rc"
        echo "profile=$(field "$out" 'profile (linux-[0-9.]+)')"
        echo "seed=$(field "$out" 'seed ([0-9]+)')"
        echo "cases=$(field "$out" '^cases ([0-9]+) ')"
        echo "calls=$(field "$out" '  calls ([0-9]+) ')"
        echo "rules_hit=$(field "$out" '  rules hit ([0-9]+/[0-9]+) ')"
        echo "divergences=$(field "$out" '  distinct divergences ([0-9]+) ')"
        echo "campaign_seconds=$(field "$out" '  time ([0-9.]+)s ')"
        echo "wall_seconds=$(cat "$d/seconds" 2>/dev/null || echo -)"
        echo "found=$(cd "$d" && ls found-*.scn 2>/dev/null | tr '\n' ' ' | sed 's/ $//' || true)"
    } >"$d/result"
}

# matrix_table: the Markdown summary of RUN_NAMES' results.
matrix_table() {
    local n d
    echo '| kernel | profile | result | cases | calls | rules hit | divergences | campaign s | wall s | counterexample |'
    echo '|---|---|---|---|---|---|---|---|---|---|'
    for n in "${RUN_NAMES[@]}"; do
        d=$OUT/$n
        [ -s "$d/result" ] || continue
        r() { sed -n "s/^$1=//p" "$d/result"; }
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$n" "$(r profile)" \
            "$(r verdict)" "$(r cases)" "$(r calls)" "$(r rules_hit)" "$(r divergences)" \
            "$(r campaign_seconds)" "$(r wall_seconds)" \
            "$(if [ -z "$(r found)" ]; then echo -; else echo "$(r found)" | sed "s#[^ ]*#$n/&#g"; fi)"
    done
}

# across_cell LINE: a scenario's verdict on one kernel, short (from an `ACROSS` line).
across_cell() {
    sed -E -e 's/^holds.*/holds/' \
        -e 's/^differs from [^ ]+ at (.*); calls .*/differs: \1/' \
        -e 's/^this kernel has no ([^ ]+).*/no \1/' -e 's/^FAILS.*/**FAILS**/' <<<"$1"
}

# scenario_table: which scenario holds on which kernel of RUN_NAMES (the `replay --across` run).
# Rows: the scenarios that do not hold everywhere, then a count of those that do.
scenario_table() {
    local n f cell row all_hold=0 shown=0 files=() header='| scenario |' rule='|---|'
    for n in "${RUN_NAMES[@]}"; do
        header+=" $n ($(field "$OUT/$n/output.txt" '^ACROSS (linux-[0-9.]+) ')) |"
        rule+='---|'
    done
    mapfile -t files < <(for n in "${RUN_NAMES[@]}"; do
        sed -nE 's#^ACROSS [^ ]+ files/([^:]+):.*#\1#p' "$OUT/$n/output.txt"
    done | sort -u)
    echo "$header"
    echo "$rule"
    for f in "${files[@]}"; do
        row="| \`$f\` |"
        local differs=0
        for n in "${RUN_NAMES[@]}"; do
            cell=$(grep -F "files/$f: " "$OUT/$n/output.txt" | grep '^ACROSS ' | tail -1 |
                sed -E 's/^ACROSS [^ ]+ [^ ]+: //')
            cell=$(across_cell "${cell:-not run}")
            [ "$cell" = holds ] || differs=1
            row+=" $cell |"
        done
        if ((differs)); then
            echo "$row"
            shown=$((shown + 1))
        else
            all_hold=$((all_hold + 1))
        fi
    done
    echo
    echo "$shown scenario(s) differ between kernels (above); $all_hold hold on every kernel."
}

cmd_matrix() {
    local list=6.1,6.12,7.x,host cases=2000 seed='' binary='' timeout='' jobs=1 extra=() rc=0 n
    local scenarios=$REPO/tests/scenarios
    while (($#)); do
        case $1 in
            --kernels) list=${2:?}; shift ;;
            --cases) cases=${2:?}; shift ;;
            --seed) seed=${2:?}; shift ;;
            --binary) binary=${2:?}; shift ;;
            --timeout) timeout=${2:?}; shift ;;
            --jobs) jobs=${2:?}; shift ;;
            --out) OUT=${2:?}; shift ;;
            --scenarios) scenarios=${2:?}; shift ;;
            -h | --help) usage && exit 0 ;;
            --) shift && extra=("$@") && break ;;
            *) die "matrix: unknown option $1 (tcpconform run options go after --)" ;;
        esac
        shift
    done
    [[ $cases =~ ^[0-9]+$ ]] || die "matrix: --cases wants a number"
    [ "$scenarios" = none ] || [ -d "$scenarios" ] || die "matrix: --scenarios $scenarios is not a directory"
    # One seed for every kernel, so that each runs the same generator stream.
    [ -n "$seed" ] || seed=$(od -An -N6 -tu8 /dev/urandom | tr -d ' ')
    [[ $seed =~ ^[0-9]+$ ]] || die "matrix: --seed wants a number"
    # Under TCG a case takes about 0.2 s; allow 1 s per case, shrinking and a slow boot.
    [ -n "$timeout" ] || timeout=$((300 + cases))
    if [ -z "$binary" ]; then
        binary=$(build_static) || die "matrix: the static build failed"
    fi
    [ -x "$binary" ] || die "matrix: $binary is not an executable file"
    # Debug information is four fifths of the binary; the initramfs need not carry it.
    local stripped
    stripped=$(mktemp -d)
    CLEANUP+=("$stripped")
    if have objcopy && objcopy --strip-debug "$binary" "$stripped/tcpconform" 2>/dev/null; then
        binary=$stripped/tcpconform
    fi
    [ -n "$OUT" ] || OUT=${CARGO_TARGET_DIR:-$REPO/target}/kernels
    mkdir -p "$OUT"
    local top
    top=$(realpath "$OUT")
    local stamp
    stamp="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    {
        echo "# tcpconform kernel matrix, $stamp"
        echo
    } >"$top/matrix.md"

    if ((cases > 0)); then
        log "matrix: the campaign on $list, $cases cases each, seed $seed"
        cmd_run --kernels "$list" --jobs "$jobs" --timeout "$timeout" --out "$top" \
            -- "$binary" run --cases "$cases" --seed "$seed" --print-scenario \
            ${extra[@]+"${extra[@]}"} || rc=1
        for n in "${RUN_NAMES[@]}"; do summarize_kernel "$OUT/$n"; done
        {
            echo "## Campaign: tcpconform run --cases $cases --seed $seed${extra[*]:+ ${extra[*]}}"
            echo
            matrix_table
            for n in "${RUN_NAMES[@]}"; do
                for f in "$OUT/$n"/found-*.scn; do
                    [ -s "$f" ] || continue
                    echo
                    echo "$n: shrunk counterexample ($n/$(basename "$f")):"
                    echo
                    echo '```'
                    cat "$f"
                    echo '```'
                done
            done
            echo
        } >>"$top/matrix.md"
    fi

    if [ "$scenarios" != none ]; then
        local names=() f
        FILES=()
        for f in "$scenarios"/*.scn; do
            [ -e "$f" ] || continue
            FILES+=("$(realpath "$f")")
            names+=("files/$(basename "$f")")
        done
        if ((${#FILES[@]})); then
            log "matrix: ${#FILES[@]} scenarios on $list (replay --across)"
            OUT=$top/scenarios
            cmd_run --kernels "$list" --jobs "$jobs" --timeout "$timeout" --out "$OUT" \
                -- "$binary" replay --across "${names[@]}" || rc=1
            {
                echo "## Scenarios: tcpconform replay --across $(basename "$scenarios")/*.scn"
                echo
                echo "Each scenario runs on each kernel with the model for that kernel. *holds*: every"
                echo "expectation of the file held; *differs: line N (result|table)*: the kernel agreed"
                echo "with its model and the file (written for another kernel, its \`@profile\`) does not"
                echo "hold there, at line N; *no KEY*: the kernel lacks a sysctl the file needs, as its"
                echo "profile says; **FAILS**: the kernel diverged from its model (see"
                echo "scenarios/<kernel>/output.txt)."
                echo
                scenario_table
                echo
            } >>"$top/matrix.md"
            OUT=$top
        fi
    fi
    echo
    cat "$top/matrix.md"
    echo
    echo "(in $top: matrix.md; per kernel <release>/{output.txt,result,found-N.scn,console.txt,meta}," \
        "scenarios/<release>/output.txt)"
    return $rc
}

# ---------------------------------------------------------------------------------------------

main() {
    (($#)) || {
        usage >&2
        exit 2
    }
    local sub=$1
    shift
    case $sub in
        fetch) cmd_fetch "$@" ;;
        run) cmd_run "$@" ;;
        matrix) cmd_matrix "$@" ;;
        info) cmd_info "$@" ;;
        -h | --help | help) usage ;;
        *) usage >&2 && exit 2 ;;
    esac
}

main "$@"
