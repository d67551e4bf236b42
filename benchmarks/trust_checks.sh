#!/usr/bin/env bash
# Issue "speed you can trust": each latency-printing command once on an idle machine and once with
# a CPU hog beside it (one busy Python process, as a neighbour's job would be). The idle run should
# print "Undisturbed." and the loaded one DISTURBED with the load it saw; compare the tables.
#   bash benchmarks/trust_checks.sh [OUT=runs/trust] [CHECK ...]   (default: bench demo)
# CHECK is bench or demo (idle, then with the hog), or one side of it: bench:idle, demo:hog, ...
# bench is cut to what a 2-core CPU without AVX-512 runs in minutes: 3 passes, no history sweep,
# no cold users (`personalize bench --help` for the full run).
set -euo pipefail
out="${1:-runs/trust}"; shift || true
pz="${PERSONALIZE:-.venv/bin/personalize}"
which=("$@"); [ ${#which[@]} -eq 0 ] && which=(bench demo)
mkdir -p "$out"

run_pair() {  # NAME SIDES COMMAND... : COMMAND --out $out/NAME-idle, then the same with the hog running
  local name="$1" sides="$2"; shift 2
  if [ "$sides" != hog ]; then
    echo "== $(date +%T) $name, idle (load: $(cut -d' ' -f1-3 /proc/loadavg))"
    "$@" --out "$out/$name-idle"
  fi
  [ "$sides" = idle ] && return
  python3 -c "while True: pass" & local hog=$!
  # shellcheck disable=SC2064  # the hog's pid is fixed now
  trap "kill $hog 2>/dev/null || true" EXIT
  sleep 5
  echo "== $(date +%T) $name, with a CPU hog (pid $hog; load: $(cut -d' ' -f1-3 /proc/loadavg))"
  "$@" --out "$out/$name-hog"
  kill "$hog"; trap - EXIT
}

for check in "${which[@]}"; do
  name="${check%%:*}"; sides=both; [ "$check" != "$name" ] && sides="${check#*:}"
  case "$sides" in both|idle|hog) ;; *) echo "unknown side $sides (idle or hog)" >&2; exit 2 ;; esac
  case "$name" in
    bench) run_pair bench "$sides" "$pz" bench --data ../shared/data/lamp7 --methods none,text-k4,e2p-1 \
             --batch-sizes 1,16 --repeats 3 --history-lengths "" --no-cold ;;
    demo) run_pair demo "$sides" "$pz" demo ;;
    *) echo "unknown check $name (bench or demo)" >&2; exit 2 ;;
  esac
done
echo "== $(date +%T) done"
