#!/usr/bin/env bash
# `make bench`, startup part: 10,000 declared directories (100 parents x 100 children, all
# healthy, access=rw so statvfs and ACL reads are included), Apache started 5 times; the figure is
# the check time from the module's own summary line (DG01120), median of the 5.
# A benchmark, not a test: it reports, it never fails for being slow.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out="$top/target/bench"
work="$out/startup"
module="${DIRGUARD_MODULE:-$top/target/release/libmod_dirguard.so}"
apache2="${APACHE2:-/usr/sbin/apache2}"
n_parents=100 n_children=100 runs=5 target_ms=100

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
$user_lines
LoadModule dirguard_module $module
DocumentRoot $work/tree
CONF
  for p in $(seq 1 $n_parents); do
    for c in $(seq 1 $n_children); do echo "DirGuardRequire $work/tree/p$p/c$c access=rw"; done
  done
} > "$work/httpd.conf"

times=()
for i in $(seq 1 $runs); do
  : > "$work/error.log"
  "$apache2" -f "$work/httpd.conf" -k start
  for _ in $(seq 1 100); do grep -q 'DG01120' "$work/error.log" && break; sleep 0.1; done
  "$apache2" -f "$work/httpd.conf" -k stop; sleep 1
  line=$(grep 'DG01120' "$work/error.log")
  case "$line" in *"checked 10000 required directories"*"0 failing"*) ;; *) echo "bench: unexpected summary: $line" >&2; exit 1;; esac
  times+=("$(sed -E 's/.* in ([0-9.]+) ms.*/\1/' <<<"$line")")
done
median=$(printf '%s\n' "${times[@]}" | sort -g | sed -n "$(( (runs + 1) / 2 ))p")
verdict=$(awk -v m="$median" -v t="$target_ms" 'BEGIN { print (m <= t) ? "met" : "MISSED" }')
printf '%-58s %12s %10s %s\n' "figure" "median" "target" "runs (ms)"
printf '%-58s %9s ms %7s ms %s\n' "startup check, 10,000 directories (access=rw)" "$median" "$target_ms" "${times[*]}  [$verdict]"
install -d "$out"
cat > "$out/results.json" <<JSON
{"startup_check_10000_dirs_ms": {"median": $median, "runs": [$(IFS=,; echo "${times[*]}")], "target": $target_ms, "met": $([ "$verdict" = met ] && echo true || echo false)}}
JSON
echo "written: $out/results.json"
