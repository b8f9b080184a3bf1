#!/usr/bin/env bash
# Startup with zero configuration at scale: 100 virtual hosts, each serving a WordPress (its
# signature files, wp-content and uploads), and nothing but `LoadModule` for the module. Measures
# `apache2 -t` (which reads the configuration, detects the applications in a forked process,
# derives what Apache's configuration implies and checks it all) with the module against the
# same configuration without it, 5 runs each, and the check's own time from its summary line.
# A figure, never a pass/fail (docs/benchmarks.md).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/bench/lib.sh"
work="$top/target/bench/wordpress-vhosts"
n=100 runs=5
rm -rf "$work"; install -d -m 0755 "$work" "$work/sites"
for i in $(seq 1 $n); do
  s="$work/sites/wp$i"
  install -d -m 0755 "$s/wp-includes" "$s/wp-content"
  : > "$s/wp-login.php"; : > "$s/wp-includes/version.php"
  install -d -m 0755 -o www-data -g www-data "$s/wp-content/uploads"
done
port=18690
conf() {
  base_config "$work" "$port" event "$work/sites"
  [ "$1" = with ] && echo "LoadModule dirguard_module $module"
  for i in $(seq 1 $n); do
    printf '<VirtualHost 127.0.0.1:%s>\n  ServerName wp%s.test\n  DocumentRoot %s\n</VirtualHost>\n' \
      "$port" "$i" "$work/sites/wp$i"
  done
}
conf with > "$work/with.conf"; conf without > "$work/without.conf"
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# time_ms CONF OUT: apache2 -t's wall time in ms, its output kept in OUT.
time_ms() { local t0 t1; t0=$(date +%s%N); "$apache2" -f "$1" -t >"$2" 2>&1 || { cat "$2" >&2; exit 1; }; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); }
with=() without=() check=()
for _ in $(seq 1 $runs); do
  with+=("$(time_ms "$work/with.conf" "$work/out")")
  check+=("$(sed -nE 's/.*DG01120: checked ([0-9]+) required directories.* in ([0-9.]+) ms.*/\2/p' "$work/out")")
  without+=("$(time_ms "$work/without.conf" "$work/out-without")")
done
count=$(sed -nE 's/.*DG01120: checked ([0-9]+) required directories.*/\1/p' "$work/out")
grep -q 'DG01120' "$work/out" && ! grep -q 'DG011[01][0-9]' <(grep -v DG01120 "$work/out") || { echo "bench: unexpected check output:" >&2; cat "$work/out" >&2; exit 1; }
printf 'startup with %d WordPress virtual hosts, zero configuration: apache2 -t %s ms with the module, %s ms without (medians of %d); %s requirements checked in %s ms\n' \
  "$n" "$(printf '%s\n' "${with[@]}" | median)" "$(printf '%s\n' "${without[@]}" | median)" "$runs" \
  "$count" "$(printf '%s\n' "${check[@]}" | median)"
