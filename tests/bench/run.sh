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
module="${DIRGUARD_MODULE:-$top/target/release/libmod_dirguard.so}"
apache2="${APACHE2:-/usr/sbin/apache2}"
n_parents=100 n_children=100 runs=5

rm -rf "$work"; install -d -m 0755 "$work/tree"
for p in $(seq 1 $n_parents); do
  install -d -m 0755 "$work/tree/p$p"
  (cd "$work/tree/p$p" && mkdir -p $(seq -f 'c%g' 1 $n_children))
done
chmod -R 0777 "$work/tree"
port=18680
user_lines=""; [ "$(id -u)" = 0 ] && user_lines=$'User www-data\nGroup www-data'
{
  cat <<CONF
ServerRoot $work
ServerName localhost
Listen 127.0.0.1:$port
PidFile $work/httpd.pid
ErrorLog $work/error.log
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule authz_host_module /usr/lib/apache2/modules/mod_authz_host.so
$user_lines
LoadModule dirguard_module $module
DocumentRoot $work/tree
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
row() { printf '%-58s %9s ms %7s ms  %s\n' "$1" "$2" "$3" "$4  [$(verdict "$2" "$3")]"; }
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

printf '%-58s %12s %10s  %s\n' "figure (10,000 required directories)" "median" "target" "runs (ms)"
row "startup check (module's own timing)" "$startup_median" 100 "${start_times[*]}"
row "one live audit (module's own timing)" "$audit_median" 50 "${audit_times[*]}"
for format in html json prometheus; do
  row "status page, format=$format (response time)" "${page_median[$format]}" 100 "${page_runs[$format]}"
done
install -d "$out"
{
  echo "{"
  echo "  $(json_fig startup_check_10000_dirs "$startup_median" 100 "${start_times[*]}"),"
  echo "  $(json_fig live_audit_10000_dirs "$audit_median" 50 "${audit_times[*]}"),"
  echo "  $(json_fig status_html_10000_dirs "${page_median[html]}" 100 "${page_runs[html]}"),"
  echo "  $(json_fig status_json_10000_dirs "${page_median[json]}" 100 "${page_runs[json]}"),"
  echo "  $(json_fig status_prometheus_10000_dirs "${page_median[prometheus]}" 100 "${page_runs[prometheus]}")"
  echo "}"
} > "$out/results.json"
echo "written: $out/results.json"
