#!/usr/bin/env bash
# System calls per healthy static request: `strace -f -c` attached to `apache2 -X` (prefork MPM:
# single-threaded, so the count is deterministic)
# for N requests, with the module (10 in-scope DirGuardRequire, DirGuardExplain 5xx,
# DirGuardOnFailure 503) and without. Prints "<with per request> <without per request>
# <with file-system calls> <without file-system calls>".
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-200}
. "$top/tests/bench/lib.sh"
work="$top/target/bench/syscalls"
rm -rf "$work"; install -d -m 0777 "$work"; install -d -m 0755 "$work/htdocs"
echo hello > "$work/htdocs/index.html"; chmod 0644 "$work/htdocs/index.html"
for i in $(seq 1 10); do install -d -m 0777 "$work/htdocs/d$i"; done
port=18950
fs='^(stat|lstat|fstat|newfstatat|statx|statfs|fstatfs|open|openat|access|faccessat2?|getxattr|lgetxattr|fgetxattr|readlink|readlinkat|getdents64)$'
count() {  # $1 with|without -> "total fs"
  local conf="$work/$1.conf"
  {
    base_config "$work" "$port" prefork "$work/htdocs"
    if [ "$1" = with ]; then
      module_config "$work"/htdocs/d{1..10}
      printf 'DirGuardExplain 5xx\nDirGuardOnFailure 503\nDirGuardInterval 0\n'
    fi
  } > "$conf"
  rm -f "$work/httpd.pid"
  "$apache2" -X -f "$conf" & local pid=$!
  wait_port "$port"
  for _ in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:$port/index.html"; done
  strace -f -c -o "$work/$1.strace" -p "$pid" 2>/dev/null & local st=$!
  sleep 0.5
  get_n "$port" /index.html "$n"
  sleep 0.3; kill -INT "$st"; wait "$st" 2>/dev/null || true
  stop_x "$pid" "$port"
  awk -v fs="$fs" 'NF >= 5 && $4 ~ /^[0-9]+$/ { total += $4; if ($NF ~ fs) f += $4 } END { print total + 0, f + 0 }' "$work/$1.strace"
}
read -r wt wf <<<"$(count with)"
read -r ot of <<<"$(count without)"
awk -v wt="$wt" -v ot="$ot" -v wf="$wf" -v of="$of" -v n="$n" 'BEGIN { printf "%.2f %.2f %.2f %.2f\n", wt / n, ot / n, wf / n, of / n }'
