#!/usr/bin/env bash
# Instructions per request under valgrind's callgrind, one `apache2 -X` with the module against the
# same Apache without it. Per-request figure = (Ir of 6N requests - Ir of N requests) / 5N, so the
# start-up and shutdown cancel out. Callgrind counts instructions, not time: the figures repeat to
# a fraction of a percent on a busy machine, which wall-clock throughput does not.
#
# Usage: callgrind.sh MPM SCENARIO  (SCENARIO: static | static-503 | explained-500 | plain-500)
# Prints: "<per-request Ir with module> <per-request Ir without>".
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
mpm=$1 scenario=$2
. "$top/tests/bench/lib.sh"
n=${DIRGUARD_BENCH_N:-200}
work="$top/target/bench/callgrind-$mpm-$scenario"
rm -rf "$work"; install -d -m 0777 "$work" "$work/out"; install -d -m 0755 "$work/htdocs" "$work/cgi-bin"
echo "hello" > "$work/htdocs/index.html"; chmod 0644 "$work/htdocs/index.html"
printf '#!/bin/sh\nexit 1\n' > "$work/cgi-bin/fail.cgi"; chmod 0755 "$work/cgi-bin/fail.cgi"
for i in $(seq 1 10); do install -d -m 0777 "$work/htdocs/d$i"; done
port=$((18700 + RANDOM % 200))
url=/index.html
case "$scenario" in explained-500|plain-500) url=/cgi-bin/fail.cgi ;; esac

config() {  # $1: with|without
  # mod_cgi under every MPM here: mod_cgid's daemon would be one more process under valgrind.
  base_config "$work" "$port" "$mpm" "$work/htdocs" crit
  printf 'LoadModule alias_module /usr/lib/apache2/modules/mod_alias.so\n'
  printf 'LoadModule cgi_module /usr/lib/apache2/modules/mod_cgi.so\n'
  printf 'ScriptAlias /cgi-bin/ %s/cgi-bin/\n' "$work"
  if [ "$1" = with ]; then
    module_config "$work"/htdocs/d{1..10}
    echo "DirGuardInterval 0"
    case "$scenario" in
      static|explained-500) echo "DirGuardExplain 5xx" ;;
      static-503) echo "DirGuardExplain 5xx"; echo "DirGuardOnFailure 503" ;;
      plain-500) echo "DirGuardExplain off" ;;
    esac
  fi
}

run() {  # $1: with|without, $2: requests -> total Ir
  local conf="$work/$1.conf" out="$work/out/$1-$2.cg"
  config "$1" > "$conf"
  # apache2 -X switches to User before it exits, when callgrind writes its totals: the file
  # must already exist and be writable for that user.
  rm -f "$work/httpd.pid"; : > "$out"; chmod 0666 "$out"
  valgrind --tool=callgrind --callgrind-out-file="$out" --trace-children=no \
    "$apache2" -X -f "$conf" >"$work/out/$1-$2.log" 2>&1 &
  local vg=$!
  wait_port "$port"
  get_n "$port" "$url" "$2"
  stop_x "$vg" "$port"
  # The main process's file holds the totals ("summary:" or "totals:" line).
  awk '/^(summary|totals):/ { print $2; exit }' "$out"
}

per_request() {  # $1: with|without
  local small large
  small=$(run "$1" "$n"); large=$(run "$1" $((6 * n)))
  awk -v s="$small" -v l="$large" -v n="$n" 'BEGIN { printf "%.0f", (l - s) / (5 * n) }'
}

echo "$(per_request with) $(per_request without)"
