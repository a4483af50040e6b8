#!/usr/bin/env bash
# npm run bench:scrape -- [REPS] [SIZES] [SYSTEMS]
# The side-by-side harness of ../shared/bench (read-only) with Vigil as the system under test,
# beside Prometheus 2.42 and VictoriaMetrics 1.79 (Debian packages), in one run:
#   REPS (default 1), SIZES (default "20x500 100x1000"), SYSTEMS (default "vigil prometheus victoriametrics").
# Results: $BENCH_OUT (default /tmp/bench-results-vigil), summarised as a Markdown table at the end.
# Needs: `vigil server` wired with scraping, the TSDB and the query API (it serves /api/v1/query*,
# /-/ready and /metrics with vigil_tsdb_head_samples_appended_total and vigil_tsdb_head_series).
# Extra run.sh options: RUN_OPTS="--warmup 30 --window 120"; node flags for Vigil: VIGIL_NODE_FLAGS="--max-semi-space-size=1".
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED_BENCH:-$ROOT/../shared/bench}
[ -x "$SHARED/run.sh" ] || { echo "no harness at $SHARED (set SHARED_BENCH)" >&2; exit 2; }
REPS=${1:-1}; SIZES=${2:-"20x500 100x1000"}; SYSTEMS=${3:-"vigil prometheus victoriametrics"}
export BENCH_OUT=${BENCH_OUT:-/tmp/bench-results-vigil}
mkdir -p "$BENCH_OUT"
VIGIL_CMD="node ${VIGIL_NODE_FLAGS:-} $ROOT/bin/vigil.mjs server --config.file={config} --storage.tsdb.path={data} --web.listen-address={listen} --log.level=warn"
for r in $(seq 1 "$REPS"); do
  order=$SYSTEMS
  if [ $((r % 2)) = 0 ]; then order=$(echo "$SYSTEMS" | tr ' ' '\n' | tac | tr '\n' ' '); fi
  for size in $SIZES; do
    for sys in $order; do
      echo "=== rep $r $sys $size ===" >&2
      if [ "$sys" = vigil ]; then
        "$SHARED/run.sh" --system custom --name vigil --cmd "$VIGIL_CMD" \
          --samples-metric vigil_tsdb_head_samples_appended_total --series-metric vigil_tsdb_head_series \
          --ready-path /-/ready --targets "${size%x*}" --series "${size#*x}" --tag "rep$r" --out-dir "$BENCH_OUT" ${RUN_OPTS:-} >/dev/null ||
          echo "!!! run failed: $sys $size rep $r" >&2
      else
        "$SHARED/run.sh" --system "$sys" --targets "${size%x*}" --series "${size#*x}" --tag "rep$r" --out-dir "$BENCH_OUT" ${RUN_OPTS:-} >/dev/null ||
          echo "!!! run failed: $sys $size rep $r" >&2
      fi
      sleep 5
    done
  done
done
node "$SHARED/summarize.mjs" "$BENCH_OUT"
