#!/usr/bin/env bash
# Instructions per static request in every realistic configuration shape, under event and
# prefork: one line per shape and MPM, "SHAPE MPM WITH WITHOUT RATIO" (callgrind.sh does each).
# Shapes: server (requirements at server scope), directory (in <Directory>, as the README shows),
# nested (Debian's stock <Directory /> /usr/share /var/www sections, then the site's), vhost (a
# <VirtualHost> with its own), htaccess (AllowOverride All and an .htaccess on the path), sections
# (<Location> and <Files> sections that add nothing of the module's), live (server, with live
# audits on: DirGuardInterval 5, the default).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
for shape in ${DIRGUARD_BENCH_SHAPES:-server directory nested vhost htaccess sections live}; do
  for mpm in event prefork; do
    read -r with without <<<"$(bash "$top/tests/bench/callgrind.sh" "$mpm" "shape-$shape")"
    awk -v s="$shape" -v m="$mpm" -v a="$with" -v b="$without" \
      'BEGIN { printf "%s %s %s %s %.4f\n", s, m, a, b, a / b }'
  done
done
