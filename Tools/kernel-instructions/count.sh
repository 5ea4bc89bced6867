#!/usr/bin/env bash
# Instructions per handle operation of refscale's worker loop, counted by Valgrind's callgrind:
# deterministic where a timing is not, so two builds or two schemes compare on a shared machine.
#
# Each cell runs twice under callgrind (--duration 0.05, then 0.5 or longer). The worker function's
# inclusive instruction count and the row's run_ops differ between the two runs by the work
# of the longer interval alone, so their quotient leaves out the worker's set-up (making the
# stream, marking its last drops). Threads are serialised by Valgrind: use --threads 1.
#
# Usage: Tools/kernel-instructions/count.sh [--binary PATH] [--schemes a,b] [--workloads x,y]
#                                           [--check-floor] [-- extra refscale run arguments]
#   --binary       the refscale binary (default .build/release/refscale)
#   --schemes      default: every scheme that runs in this build but cpython (its real
#                  interpreter's instructions are not the model's)
#   --workloads    default: private,shared-hot,mixed,call,churn (handoff needs two threads, and
#                  under Valgrind, which runs one thread at a time, a consumer's spinning on an
#                  empty ring would be counted as work)
#   --check-floor  exit 1 when a scheme executes fewer instructions per operation than noop on
#                  a workload: noop must be the floor by construction
# Prints one line per cell: scheme, workload, instructions per handle operation.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
binary="$root/.build/release/refscale"
schemes="noop,nonatomic,gil,atomic,biased,perthread,handle-local,arena,handle-table"
workloads="private,shared-hot,mixed,call,churn"
check_floor=false
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
    --schemes) schemes="${2:?--schemes needs a list}"; shift 2 ;;
    --workloads) workloads="${2:?--workloads needs a list}"; shift 2 ;;
    --check-floor) check_floor=true; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "count.sh: unknown argument '$1' (see the header of $0)" >&2; exit 64 ;;
  esac
done
command -v valgrind >/dev/null || { echo "count.sh: valgrind is not installed (apt-get install valgrind)" >&2; exit 69; }
[ -x "$binary" ] || { echo "count.sh: $binary is not an executable; build it: swift build -c release --product refscale" >&2; exit 66; }
case ",$schemes," in *,noop,*) ;; *) $check_floor && { echo "count.sh: --check-floor needs noop among --schemes" >&2; exit 64; } ;; esac
# Every name is checked before any cell runs.
listing="$("$binary" list 2>/dev/null)"
for name in ${schemes//,/ } ${workloads//,/ }; do
  grep -qE "^  $name( |$)" <<<"$listing" || { echo "count.sh: '$name' is no scheme or workload of $binary" >&2; exit 64; }
done

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
# Valgrind 3.19 cannot read the debug information Swift 6 writes; the symbol table suffices.
cp "$binary" "$scratch/refscale"
strip -g "$scratch/refscale"

# Prints "run_ops worker_instructions" of one run.
measure() {
  local scheme="$1" workload="$2" duration="$3"
  rm -f "$scratch/out.csv" "$scratch/callgrind.out"
  if ! valgrind --tool=callgrind --fair-sched=yes --callgrind-out-file="$scratch/callgrind.out" "$scratch/refscale" run \
      --scheme "$scheme" --workload "$workload" --threads 1 --duration "$duration" --warmup 0.01 --reps 1 \
      --csv "$scratch/out.csv" ${extra[@]+"${extra[@]}"} >"$scratch/log" 2>&1; then
    echo "count.sh: $scheme on $workload failed under valgrind:" >&2
    tail -3 "$scratch/log" >&2
    exit 1
  fi
  local ops instructions
  ops="$(python3 -c "import csv, sys; print(list(csv.DictReader(open(sys.argv[1])))[-1]['run_ops'])" "$scratch/out.csv")"
  instructions="$(callgrind_annotate --inclusive=yes "$scratch/callgrind.out" 2>/dev/null \
    | awk '/RunSessionC9runWorker_7signals/ && !/OperationVGXEfU/ { gsub(",", "", $1); print $1; exit }')"
  [ -n "$instructions" ] || { echo "count.sh: no worker function in the profile of $scheme on $workload" >&2; exit 1; }
  echo "$ops $instructions"
}

declare -A perop
printf '%-13s %-11s %s\n' scheme workload instructions/op
for workload in ${workloads//,/ }; do
  for scheme in ${schemes//,/ }; do
    short="$(measure "$scheme" "$workload" 0.05)" || exit 1
    read -r ops1 in1 <<<"$short"
    # Valgrind runs one thread at a time, so the thread that ends the interval may be let run
    # late and the shorter run may do more work: lengthen the longer one until it does twice.
    ops2=0
    for duration in 0.5 1 2 4; do
      long="$(measure "$scheme" "$workload" "$duration")" || exit 1
      read -r ops2 in2 <<<"$long"
      [ "$ops2" -ge $((2 * ops1)) ] && break
    done
    if [ "$ops2" -lt $((2 * ops1)) ]; then
      echo "count.sh: $scheme on $workload: the longer runs never did twice the shorter's operations ($ops1, last $ops2)" >&2
      exit 1
    fi
    perop[$scheme,$workload]="$(python3 -c "import sys; o1, i1, o2, i2 = map(int, sys.argv[1:]); print(f'{(i2 - i1) / (o2 - o1):.2f}')" "$ops1" "$in1" "$ops2" "$in2")"
    printf '%-13s %-11s %s\n' "$scheme" "$workload" "${perop[$scheme,$workload]}"
  done
done
$check_floor || exit 0
below=()
for workload in ${workloads//,/ }; do
  for scheme in ${schemes//,/ }; do
    if python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)" "${perop[$scheme,$workload]}" "${perop[noop,$workload]}"; then
      below+=("$scheme on $workload: ${perop[$scheme,$workload]} < noop's ${perop[noop,$workload]}")
    fi
  done
done
if [ ${#below[@]} -gt 0 ]; then
  printf 'count.sh: below the noop floor: %s\n' "${below[@]}" >&2
  exit 1
fi
echo "count.sh: noop is the floor on every workload counted"
