#!/usr/bin/env bash
# The one entry point that humans and CI both run: `ci/ci.sh [job...]` (default: all).
#
#   fmt         rustfmt, check only
#   clippy      clippy on every target, warnings are errors
#   cross       clippy for x86_64-unknown-freebsd and x86_64-apple-darwin: the FreeBSD and macOS
#               backends compile-checked from here (rustup adds the targets when missing)
#   model-deps  the model crate depends on nothing but serde (no OS crate, no I/O)
#   docs        rustdoc, warnings are errors
#   test        the README's test command: ci/setup.sh (installs nftables if missing), then
#               cargo test --workspace (kernel tests included; with CI=true a kernel test that
#               cannot get a namespace fails instead of skipping)
#   kernels     the kernel matrix (ci/kernels.sh matrix): the campaign and every scenario under
#               Debian's 6.1, 6.12 and newest 7.x kernels (qemu, TCG) and on this machine's kernel;
#               TCPCONFORM_MATRIX_CASES cases per kernel (default 300), seed
#               TCPCONFORM_MATRIX_SEED (default: random, printed). Installs qemu & co. with apt
#               and caches the kernels in ~/.cache/tcpconform/kernels.
set -euo pipefail
cd "$(dirname "$0")/.."

job_fmt() { cargo fmt --all -- --check; }

job_clippy() { cargo clippy --locked --workspace --all-targets -- -D warnings; }

job_cross() {
    local t
    for t in x86_64-unknown-freebsd x86_64-apple-darwin; do
        rustup target list --installed | grep -qx "$t" || rustup target add "$t"
        cargo clippy --locked --workspace --all-targets --target "$t" -- -D warnings
    done
}

job_model_deps() {
    # Normal (non-dev) dependencies of the model: serde and its derive macro only.
    local deps
    deps=$(cargo tree --locked -p tcpconform-model -e normal --prefix none --format '{p}' \
        | awk '{print $1}' | sort -u | grep -v '^tcpconform-model$' || true)
    local allowed='^(serde|serde_core|serde_derive|proc-macro2|quote|syn|unicode-ident)$'
    local bad
    bad=$(echo "$deps" | grep -Ev "$allowed" || true)
    if [ -n "$bad" ]; then
        echo "model-deps: the model crate must stay pure; unexpected dependencies:" >&2
        echo "$bad" >&2
        return 1
    fi
    echo "model-deps: ok ($(echo "$deps" | tr '\n' ' '))"
}

job_docs() { RUSTDOCFLAGS=-Dwarnings cargo doc --locked --workspace --no-deps; }

job_test() {
    ci/setup.sh
    cargo test --locked --workspace --no-fail-fast
}

job_kernels() {
    # --check-readings: on every kernel, the observer's shortcuts are held against walks.
    ci/kernels.sh matrix --kernels 6.1,6.12,7.x,host --jobs 2 \
        --cases "${TCPCONFORM_MATRIX_CASES:-300}" ${TCPCONFORM_MATRIX_SEED:+--seed "$TCPCONFORM_MATRIX_SEED"} \
        -- --check-readings
}

jobs=("$@")
[ ${#jobs[@]} -eq 0 ] && jobs=(fmt clippy cross model-deps docs test kernels)
for j in "${jobs[@]}"; do
    echo "==> ci: $j"
    start=$(date +%s)
    "job_${j//-/_}"
    echo "==> ci: $j ok ($(( $(date +%s) - start ))s)"
done
