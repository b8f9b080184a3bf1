#!/usr/bin/env bash
# Instructions per request under valgrind's callgrind, one `apache2 -X` with the module against the
# same Apache without it. Per-request figure = (Ir of 6N requests - Ir of N requests) / 5N, so the
# start-up and shutdown cancel out. Callgrind counts instructions, not time: the figures repeat to
# a fraction of a percent on a busy machine, which wall-clock throughput does not.
#
# Usage: callgrind.sh MPM SCENARIO
#   SCENARIO: static | static-503 | explained-500 | plain-500, or a configuration shape for a
#   static request: shape-server | shape-live | shape-directory | shape-nested | shape-vhost |
#   shape-htaccess | shape-sections (see shape_config below). "without" is the same configuration without the
#   module's lines, so a shape's sections and .htaccess cost the same on both sides.
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
if [ "$scenario" = shape-htaccess ]; then
  printf 'Options -Indexes\n' > "$work/htdocs/.htaccess"; chmod 0644 "$work/htdocs/.htaccess"
fi
port=$((18700 + RANDOM % 200))
url=/index.html
case "$scenario" in explained-500|plain-500) url=/cgi-bin/fail.cgi ;; esac

# shape_config SHAPE: the module's lines of a shape prefixed with "DG " (dropped for "without").
# Every shape has 10 in-scope requirements and DirGuardExplain 5xx; DirGuardInterval 0.
shape_config() {
  local dirs=("$work"/htdocs/d{1..10}) d
  req() { for d in "${dirs[@]}"; do echo "DG   DirGuardRequire $d access=rw"; done; }
  echo "DG LoadModule dirguard_module $module"
  echo "DG DirGuardInterval 0"
  echo "DG DirGuardExplain 5xx"
  case "$1" in
    server) req ;;
    live)  # as server, with live audits on (DirGuardInterval's default): a watchdog thread per child
      echo "DG DirGuardInterval 5"; req ;;
    directory) echo "<Directory $work/htdocs>"; req; echo "</Directory>" ;;
    nested)  # Debian's stock apache2.conf sections, then the site's
      printf '<Directory />\n  Options FollowSymLinks\n  AllowOverride None\n  Require all denied\n</Directory>\n'
      printf '<Directory /usr/share>\n  AllowOverride None\n  Require all granted\n</Directory>\n'
      printf '<Directory %s/>\n  Options Indexes FollowSymLinks\n  AllowOverride None\n  Require all granted\n</Directory>\n' "$work"
      echo "<Directory $work/htdocs>"; req; echo "</Directory>" ;;
    vhost)  # a global section and a virtual host with requirements of its own
      printf '<Directory %s/htdocs>\n  Require all granted\n</Directory>\n' "$work"
      printf '<VirtualHost 127.0.0.1:%s>\n  ServerName localhost\n  DocumentRoot %s/htdocs\n' "$port" "$work"
      req; echo "</VirtualHost>" ;;
    htaccess)  # AllowOverride All and an .htaccess on the way
      echo "<Directory $work/htdocs>"; echo "  AllowOverride All"; req; echo "</Directory>" ;;
    sections)  # <Location> and <Files> sections that add nothing of the module's
      echo "<Directory $work/htdocs>"; req; echo "</Directory>"
      printf '<Location />\n  Require all granted\n</Location>\n<Files "*.html">\n  ForceType text/html\n</Files>\n' ;;
  esac
}

config() {  # $1: with|without
  # mod_cgi under every MPM here: mod_cgid's daemon would be one more process under valgrind.
  base_config "$work" "$port" "$mpm" "$work/htdocs" crit
  case "$scenario" in
    shape-*)
      if [ "$1" = with ]; then shape_config "${scenario#shape-}" | sed -E 's/^DG //'
      else shape_config "${scenario#shape-}" | grep -v '^DG '; fi
      return ;;
  esac
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
