#!/usr/bin/env bash
# The soak: one campaign of CASES random cases (default 100000) from seed SEED (default 1),
# which keeps going after a divergence: every distinct divergence is grouped, shrunk and saved
# (DIR/found/*.scn) and listed with its count. Not part of ci.sh (it takes a quarter of an
# hour).
#
#   ci/soak.sh [CASES] [SEED]
#
# Environment: TCPCONFORM (the binary; default target/release/tcpconform, built if missing),
# SOAK_DIR (default soak-<time>), SOAK_LOAD=N (N busy loops, `yes > /dev/null`, for the soak's
# duration: the same campaign with every CPU contended), SOAK_BASELINE (a baseline file: only
# divergences it does not know count).
#
# Prints the campaign's figures and every distinct divergence; exit 0 when none (or none new)
# was found, 1 when some were (the scenario files are listed), 3 when the harness failed.
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
start=$(date +%s)
rc=0
"$bin" run --cases "$cases" --seed "$seed" --found "$dir/found" --json \
    ${SOAK_BASELINE:+--baseline "$SOAK_BASELINE"} > "$dir/run.json" 2> "$dir/run.err" || rc=$?
if [ "$rc" = 3 ] || [ ! -s "$dir/run.json" ]; then
    cat "$dir/run.err" >&2
    exit 3
fi
python3 - "$dir/run.json" "$(( $(date +%s) - start ))" "${SOAK_LOAD:-0}" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
groups = r.get("groups", [])
new = [g for g in groups if not g.get("known")]
print(f"soak: {r['cases']} cases from seed {r['seed']} in {sys.argv[2]}s, load {sys.argv[3]}: "
      f"{r.get('divergent_cases', 0)} divergent case(s), {len(groups)} distinct divergence(s), "
      f"{len(new)} new")
for g in groups:
    cx = g["counterexample"]
    tag = "known" if g.get("known") else "NEW"
    print(f"  {tag} {g['count']}x (first at case {g['first_case']}): {g['signature']}")
    print(f"      {cx.get('path') or '(not saved)'}")
PY
exit "$rc"
