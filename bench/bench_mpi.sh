#!/bin/sh
# Candidates per hour with 1, 2 and 3 MPI workers (mpirun -n 2..4) and in
# one process, on synthetic data, each run the same search (seed, budget
# of candidates); prints one JSON object. Usage: bench/bench_mpi.sh
# [SLIMNAS] (a binary built with make MPI=1). BENCH_MPI_CANDS and
# BENCH_MPI_DATA change the search.
set -e
bin=${1:-./slimnas}
cands=${BENCH_MPI_CANDS:-16}
data=${BENCH_MPI_DATA:-synthetic:3000}
tmp=$(mktemp -d /tmp/sn_bench_mpi.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
common="--data $data --max-candidates $cands --threads 1 --strategy random --seed 7"
now() { date +%s.%N; }
t0=$(now)
"$bin" search $common --run "$tmp/local" >/dev/null 2>&1
t1=$(now)
printf '{"data": "%s", "candidates": %s, "threads_per_rank": 1, "nproc": %s,\n' \
  "$data" "$cands" "$(nproc)"
calc() { awk "BEGIN { print $1 }"; }
printf ' "one_process": {"seconds": %.1f, "candidates_per_hour": %.0f},\n' \
  "$(calc "$t1 - $t0")" "$(calc "3600 * $cands / ($t1 - $t0)")"
printf ' "mpi": ['
sep=""
for w in 1 2 3; do
  t0=$(now)
  mpirun --oversubscribe -n $((w + 1)) "$bin" search --mpi $common \
    --run "$tmp/w$w" >"$tmp/out$w" 2>&1
  t1=$(now)
  ms=$(sed -n 's/.*controller spent \([0-9.]*\) ms per candidate.*/\1/p' "$tmp/out$w")
  printf '%s\n  {"workers": %d, "seconds": %.1f, "candidates_per_hour": %.0f, "controller_ms_per_candidate": %s}' \
    "$sep" "$w" "$(calc "$t1 - $t0")" \
    "$(calc "3600 * $cands / ($t1 - $t0)")" "${ms:-null}"
  sep=","
done
printf ']}\n'
