#!/usr/bin/env bash
# `make bench`: figures and ratios on loopback against real Apache servers this script starts and
# stops. A benchmark, not a test: it reports (table + target/bench/results.json), it never fails
# for being slow. See docs/benchmarks.md.
#
# 10,000 declared directories (100 parents x 100 children, all healthy, access=rw so statvfs and
# ACL reads are included):
# - startup check: Apache started 5 times, the check's own time from its summary line (DG01120);
# - live audit: the module's own audit timing (last_audit.duration_seconds), 5 audits;
# - status page: response time of each format, 5 requests each.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out="$top/target/bench"
work="$out/startup"
. "$top/tests/bench/lib.sh"
n_parents=100 n_children=100 runs=5

rm -rf "$work"; install -d -m 0755 "$work/tree"
for p in $(seq 1 $n_parents); do
  install -d -m 0755 "$work/tree/p$p"
  (cd "$work/tree/p$p" && mkdir -p $(seq -f 'c%g' 1 $n_children))
done
chmod -R 0777 "$work/tree"
port=18680
{
  base_config "$work" "$port" event "$work/tree"
  echo "LoadModule dirguard_module $module"
  # Exactly the 10,000 declared (startup with detected applications: wordpress_vhosts.sh).
  cat <<CONF
DirGuardApps off
DirGuardDerive off
DirGuardInterval 1
<Location /dirguard-status>
    SetHandler dirguard-status
    Require local
</Location>
CONF
  for p in $(seq 1 $n_parents); do
    for c in $(seq 1 $n_children); do echo "DirGuardRequire $work/tree/p$p/c$c access=rw"; done
  done
} > "$work/httpd.conf"

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
verdict() { awk -v m="$1" -v t="$2" 'BEGIN { print (m <= t) ? "met" : "MISSED" }'; }
json_fig() { printf '"%s": {"median_ms": %s, "target_ms": %s, "met": %s, "runs_ms": [%s]}' "$1" "$2" "$3" \
  "$([ "$(verdict "$2" "$3")" = met ] && echo true || echo false)" "$(tr ' ' ',' <<<"$4")"; }

start_times=()
for i in $(seq 1 $runs); do
  : > "$work/error.log"
  "$apache2" -f "$work/httpd.conf" -k start
  for _ in $(seq 1 100); do grep -q 'DG01120' "$work/error.log" && break; sleep 0.1; done
  line=$(grep 'DG01120' "$work/error.log")
  case "$line" in *"checked 10000 required directories"*"0 failing"*) ;; *) echo "bench: unexpected summary: $line" >&2; exit 1;; esac
  start_times+=("$(sed -E 's/.* in ([0-9.]+) ms.*/\1/' <<<"$line")")
  if [ "$i" -lt "$runs" ]; then "$apache2" -f "$work/httpd.conf" -k stop; sleep 1; fi
done
startup_median=$(printf '%s\n' "${start_times[@]}" | median)

# Live audits: the server from the last start keeps running; sample 5 distinct audits.
status_url="http://127.0.0.1:$port/dirguard-status"
audit_times=() last=""
for _ in $(seq 1 100); do
  json=$(curl -s "$status_url?format=json")
  n=$(sed -E 's/.*"audits_total":([0-9]+).*/\1/' <<<"$json")
  if [ "$n" != "$last" ] && [ "$n" -gt 1 ]; then
    audit_times+=("$(sed -E 's/.*"duration_seconds":([0-9.eE+-]+).*/\1/' <<<"$json" | awk '{ printf "%.1f", $1 * 1000 }')")
    last=$n
  fi
  [ "${#audit_times[@]}" -ge $runs ] && break
  sleep 0.5
done
audit_median=$(printf '%s\n' "${audit_times[@]}" | median)

declare -A page_median page_runs
for format in html json prometheus; do
  runs_ms=()
  for _ in $(seq 1 $runs); do
    runs_ms+=("$(curl -s -o /dev/null -w '%{time_total}' "$status_url?format=$format" | awk '{ printf "%.1f", $1 * 1000 }')")
  done
  page_runs[$format]="${runs_ms[*]}"
  page_median[$format]=$(printf '%s\n' "${runs_ms[@]}" | median)
done
"$apache2" -f "$work/httpd.conf" -k stop; sleep 1


# --- Per-request cost: instructions (callgrind), system calls, throughput, memory. ---
cg() { bash "$top/tests/bench/callgrind.sh" "$@"; }
read -r ev_with ev_without <<<"$(cg event static)"
read -r pf_with pf_without <<<"$(cg prefork static)"
read -r ev503_with _ <<<"$(cg event static-503)"
read -r explained _ <<<"$(DIRGUARD_BENCH_N=50 cg event explained-500)"
read -r unexplained _ <<<"$(DIRGUARD_BENCH_N=50 cg event plain-500)"
shapes=$(bash "$top/tests/bench/shapes.sh")
read -r sc_with sc_without fs_with fs_without <<<"$(bash "$top/tests/bench/syscalls.sh" 200)"
tp=$(bash "$top/tests/bench/throughput.sh" 5 5)
read -r _ ab abp <<<"$(grep '^ab ' <<<"$tp")"
read -r _ aa aap <<<"$(grep '^aa ' <<<"$tp")"
runs_ab=$(grep '^runs-ab ' <<<"$tp" | cut -d' ' -f2-)
runs_aa=$(grep '^runs-aa ' <<<"$tp" | cut -d' ' -f2-)
read -r _ rss_with rss_without <<<"$(grep '^rss ' <<<"$tp")"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a / b }'; }
le() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t) ? "met" : "MISSED" }'; }
ev_ratio=$(ratio "$ev_with" "$ev_without"); pf_ratio=$(ratio "$pf_with" "$pf_without")
ev503_ratio=$(ratio "$ev503_with" "$ev_without"); ex_ratio=$(ratio "$explained" "$unexplained")
added=$(awk -v a="$sc_with" -v b="$sc_without" 'BEGIN { printf "%.2f", a - b }')
fs_added=$(awk -v a="$fs_with" -v b="$fs_without" 'BEGIN { printf "%.2f", a - b }')

line() { printf '%-60s %-34s %-10s %s\n' "$1" "$2" "$3" "$4"; }
echo
line "figure" "result" "target" "verdict"
line "--- 10,000 required directories" "" "" ""
line "startup check (module's own timing)" "${startup_median} ms (${start_times[*]})" "<= 100 ms" "$(le "$startup_median" 100)"
line "one live audit (module's own timing)" "${audit_median} ms (${audit_times[*]})" "<= 50 ms" "$(le "$audit_median" 50)"
for format in html json prometheus; do
  line "status page, format=$format" "${page_median[$format]} ms (${page_runs[$format]})" "<= 100 ms" "$(le "${page_median[$format]}" 100)"
done
line "--- per request (10 in-scope directories, DirGuardExplain 5xx)" "" "" ""
line "instructions/static request, event: module / none" "$ev_with / $ev_without = $ev_ratio" "<= 1.01" "$(le "$ev_ratio" 1.01)"
line "instructions/static request, prefork: module / none" "$pf_with / $pf_without = $pf_ratio" "<= 1.01" "$(le "$pf_ratio" 1.01)"
while read -r shape mpm s_with s_without s_ratio; do
  line "  shape $shape, $mpm: module / none" "$s_with / $s_without = $s_ratio" "<= 1.01" "$(le "$s_ratio" 1.01)"
done <<<"$shapes"
line "same, event, with DirGuardOnFailure 503 (reads health)" "$ev503_with / $ev_without = $ev503_ratio" "report" "-"
line "instructions per explained 500 / unexplained 500" "$explained / $unexplained = $ex_ratio" "report" "-"
line "system calls per healthy request: module / none" "$sc_with / $sc_without (added $added)" "0 added" "$( [ "$added" = 0.00 ] && echo met || echo MISSED)"
line "file-system system calls per healthy request" "$fs_with / $fs_without (added $fs_added)" "0 added" "$( [ "$fs_added" = 0.00 ] && echo met || echo MISSED)"
line "static throughput, module / none (median of 5 A/B pairs)" "$ab (pairs: $runs_ab)" "report" "noise: A/A $aa (pairs: $runs_aa)"
line "static p99 latency, module / none" "$abp" "report" "noise: A/A $aap"
line "child RSS after the throughput run, module / none" "$rss_with / $rss_without KiB" "report" "-"
echo "(instructions: callgrind over apache2 -X, (Ir of 6N - Ir of N) / 5N; DirGuardInterval 0 so the"
echo " periodic audit, measured above, is not charged to requests. Throughput: wrk -t2 -c16, 5 s runs.)"

install -d "$out"
{
  echo "{"
  echo "  $(json_fig startup_check_10000_dirs "$startup_median" 100 "${start_times[*]}"),"
  echo "  $(json_fig live_audit_10000_dirs "$audit_median" 50 "${audit_times[*]}"),"
  echo "  $(json_fig status_html_10000_dirs "${page_median[html]}" 100 "${page_runs[html]}"),"
  echo "  $(json_fig status_json_10000_dirs "${page_median[json]}" 100 "${page_runs[json]}"),"
  echo "  $(json_fig status_prometheus_10000_dirs "${page_median[prometheus]}" 100 "${page_runs[prometheus]}"),"
  echo "  \"instructions_static_event\": {\"module\": $ev_with, \"none\": $ev_without, \"ratio\": $ev_ratio, \"target\": 1.01},"
  echo "  \"instructions_static_prefork\": {\"module\": $pf_with, \"none\": $pf_without, \"ratio\": $pf_ratio, \"target\": 1.01},"
  echo "  \"instructions_static_event_503_mode\": {\"module\": $ev503_with, \"none\": $ev_without, \"ratio\": $ev503_ratio},"
  echo "  \"instructions_explained_vs_unexplained_500\": {\"explained\": $explained, \"unexplained\": $unexplained, \"ratio\": $ex_ratio},"
  echo "  \"syscalls_per_healthy_request\": {\"module\": $sc_with, \"none\": $sc_without, \"filesystem_module\": $fs_with, \"filesystem_none\": $fs_without},"
  echo "  \"throughput_ratio\": {\"module_over_none\": $ab, \"p99_ratio\": $abp, \"aa_noise\": $aa, \"aa_p99\": $aap, \"pairs\": [$(tr ' ' ',' <<<"$runs_ab")], \"aa_pairs\": [$(tr ' ' ',' <<<"$runs_aa")]},"
  echo "  \"shapes\": [$(awk '{ printf "%s{\"shape\": \"%s\", \"mpm\": \"%s\", \"module\": %s, \"none\": %s, \"ratio\": %s, \"target\": 1.01}", (NR > 1 ? ", " : ""), $1, $2, $3, $4, $5 }' <<<"$shapes")],"
  echo "  \"child_rss_kib\": {\"module\": $rss_with, \"none\": $rss_without}"
  echo "}"
} > "$out/results.json"
echo "written: $out/results.json"
