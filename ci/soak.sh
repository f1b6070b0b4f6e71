#!/usr/bin/env bash
# The soak: CASES random cases that pass on this kernel (default 100000), as many seeds as it
# takes. A divergence is shrunk and saved (DIR/found/*.scn), listed, and the soak goes on with
# the next seed; the cases before it count. Not part of ci.sh (it takes a quarter of an hour).
#
#   ci/soak.sh [CASES] [FIRST_SEED]
#
# Environment: TCPCONFORM (the binary; default target/release/tcpconform, built if missing),
# SOAK_DIR (default soak-<time>), SOAK_LOAD=N (N busy loops, `yes > /dev/null`, for the soak's
# duration: the same campaign with every CPU contended).
#
# Prints one line per seed and a summary; exit 0 when no divergence was found, 1 when some
# were (the scenario files are listed), 3 when the harness failed.
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-100000}
seed=${2:-1}
bin=${TCPCONFORM:-target/release/tcpconform}
dir=${SOAK_DIR:-soak-$(date +%s)}
if [ ! -x "$bin" ]; then
    cargo build --release --locked -p tcpconform
fi
mkdir -p "$dir"
loads=()
cleanup() {
    for p in "${loads[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
for _ in $(seq 1 "${SOAK_LOAD:-0}"); do
    yes > /dev/null &
    loads+=("$!")
done
passed=0
divergences=()
start=$(date +%s)
while [ "$passed" -lt "$cases" ]; do
    left=$((cases - passed))
    rc=0
    "$bin" run --cases "$left" --seed "$seed" --found "$dir/found" --json \
        > "$dir/seed-$seed.json" 2> "$dir/seed-$seed.err" || rc=$?
    read -r ran outcome file < <(python3 - "$dir/seed-$seed.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
o = r["outcome"]
if o == "Passed":
    print(r["cases"], "passed", "-")
elif "Diverged" in o:
    print(r["cases"], "diverged", o["Diverged"].get("path") or "-")
else:
    print(r["cases"], "harness-failed", "-")
PY
)
    echo "seed $seed: $ran cases, $outcome $file (exit $rc)"
    case "$outcome" in
        passed) passed=$((passed + ran)) ;;
        diverged)
            # The failing case is the last one run.
            passed=$((passed + ran - 1))
            divergences+=("$file (seed $seed)")
            ;;
        *)
            cat "$dir/seed-$seed.err" >&2
            exit 3
            ;;
    esac
    seed=$((seed + 1))
done
echo "soak: $passed cases passed in $(( $(date +%s) - start ))s, load ${SOAK_LOAD:-0}, ${#divergences[@]} divergence(s)"
for d in "${divergences[@]}"; do echo "  divergence: $d"; done
[ ${#divergences[@]} -eq 0 ]
