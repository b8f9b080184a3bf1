#!/usr/bin/env bash
# System calls per healthy static request: `strace -f -c` attached to `apache2 -X` (prefork MPM:
# single-threaded, so the count is deterministic)
# for N requests, with the module (10 in-scope DirGuardRequire, DirGuardExplain 5xx,
# DirGuardOnFailure 503) and without. Prints "<with per request> <without per request>
# <with file-system calls> <without file-system calls>".
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-200}
module="${DIRGUARD_MODULE:-$top/target/release/libmod_dirguard.so}"
apache2="${APACHE2:-/usr/sbin/apache2}"
work="$top/target/bench/syscalls"
rm -rf "$work"; install -d -m 0777 "$work"; install -d -m 0755 "$work/htdocs"
echo hello > "$work/htdocs/index.html"; chmod 0644 "$work/htdocs/index.html"
for i in $(seq 1 10); do install -d -m 0777 "$work/htdocs/d$i"; done
user_lines=""; [ "$(id -u)" = 0 ] && user_lines=$'User www-data\nGroup www-data'
port=18950
fs='^(stat|lstat|fstat|newfstatat|statx|statfs|fstatfs|open|openat|access|faccessat2?|getxattr|lgetxattr|fgetxattr|readlink|readlinkat|getdents64)$'
count() {  # $1 with|without -> "total fs"
  local conf="$work/$1.conf"
  {
    cat <<CONF
ServerRoot $work
ServerName localhost
Listen 127.0.0.1:$port
PidFile $work/httpd.pid
ErrorLog $work/error.log
LoadModule mpm_prefork_module /usr/lib/apache2/modules/mod_mpm_prefork.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
DocumentRoot $work/htdocs
$user_lines
CONF
    if [ "$1" = with ]; then
      echo "LoadModule dirguard_module $module"
      for i in $(seq 1 10); do echo "DirGuardRequire $work/htdocs/d$i access=rw"; done
      printf 'DirGuardExplain 5xx\nDirGuardOnFailure 503\nDirGuardInterval 0\n'
    fi
  } > "$conf"
  rm -f "$work/httpd.pid"
  "$apache2" -X -f "$conf" & local pid=$!
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  for _ in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:$port/index.html"; done
  strace -f -c -o "$work/$1.strace" -p "$pid" 2>/dev/null & local st=$!
  sleep 0.5
  for _ in $(seq 1 "$n"); do
    exec 3<>"/dev/tcp/127.0.0.1/$port"; printf 'GET /index.html HTTP/1.0\r\n\r\n' >&3; cat <&3 >/dev/null; exec 3<&-
  done
  sleep 0.3; kill -INT "$st"; wait "$st" 2>/dev/null || true
  kill -INT "$pid"  # prefork in one-process mode ignores SIGTERM
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  awk -v fs="$fs" 'NF >= 5 && $4 ~ /^[0-9]+$/ { total += $4; if ($NF ~ fs) f += $4 } END { print total + 0, f + 0 }' "$work/$1.strace"
}
read -r wt wf <<<"$(count with)"
read -r ot of <<<"$(count without)"
awk -v wt="$wt" -v ot="$ot" -v wf="$wf" -v of="$of" -v n="$n" 'BEGIN { printf "%.2f %.2f %.2f %.2f\n", wt / n, ot / n, wf / n, of / n }'
