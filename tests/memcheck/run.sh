#!/usr/bin/env bash
# make memcheck: the module's scenarios against `apache2 -X` under valgrind memcheck, one run per
# MPM (event, prefork). Each run goes through both configuration reads, the startup check with
# faults and repair, live audits from the watchdog, explained 403/404/500, 503 answers with storm
# control, the three status formats, and the shutdown that destroys every pool (so a value the
# module failed to free shows as a leak). The findings file is printed; the run fails on any
# invalid read, write or free, on uninitialised values in the module, and on any definite or
# indirect leak whose allocation stack passes through the module.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/bench/lib.sh"
work="$top/target/memcheck"
python="${DIRGUARD_PYTHON:-/usr/bin/python3}"
rm -rf "$work"; install -d -m 0755 "$work"
findings="$work/findings.txt"
: > "$findings"
port=18960

scenario() {  # $1 = MPM, $2 = run name, $3 = findings file
  local mpm=$1 root="$work/$2" out=$3
  install -d -m 0755 "$root" "$root/htdocs" "$root/htdocs/guarded" "$root/htdocs/bad" "$root/vault/inner"
  chmod 0700 "$root/vault"
  install -d -m 0777 "$root/htdocs/ok"
  echo hello > "$root/htdocs/index.html"; echo guarded > "$root/htdocs/guarded/index.html"
  echo secret > "$root/htdocs/secret.html"; chmod 0600 "$root/htdocs/secret.html"
  echo 'ThisIsNotADirective on' > "$root/htdocs/bad/.htaccess"; echo x > "$root/htdocs/bad/index.html"
  ln -s "$root/htdocs/nowhere" "$root/htdocs/link"
  chmod -R a+rX "$root/htdocs"; chmod 0600 "$root/htdocs/secret.html"
  if [ "$(id -u)" = 0 ]; then chown root: "$root/htdocs/secret.html"; fi
  {
    base_config "$root" "$port" "$mpm" "$root/htdocs" info
    cat <<CONF
LoadModule dirguard_module $module
DirGuardInterval 1
DirGuardRepair create
DirGuardExplain 4xx 5xx
DirGuardRequire $root/htdocs/ok access=rw min-free=1K min-inodes=10
DirGuardRequire $root/htdocs/created access=rw mode=0750
DirGuardRequire $root/htdocs/link access=rw
DirGuardRequire $root/vault/inner access=r
<Directory $root/htdocs/bad>
  AllowOverride All
</Directory>
<Location /guarded/>
  DirGuardOnFailure 503
  DirGuardRetryAfter 7
</Location>
<Location /dirguard-status>
  SetHandler dirguard-status
</Location>
CONF
  } > "$root/httpd.conf"
  local vlog="$root/valgrind.log"
  valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect \
    --errors-for-leak-kinds=definite,indirect --keep-debuginfo=yes --num-callers=40 \
    --log-file="$vlog" "$apache2" -X -f "$root/httpd.conf" & local pid=$!
  wait_port "$port"
  local u="http://127.0.0.1:$port"
  for path in /index.html /nothere /secret.html /bad/ /guarded/index.html \
              '/dirguard-status' '/dirguard-status?format=json' '/dirguard-status?format=prometheus'; do
    curl -s -o /dev/null -w "$mpm %{http_code} $path\n" "$u$path" || true
  done
  for _ in $(seq 1 30); do curl -s -o /dev/null "$u/guarded/index.html" || true; done
  sleep 3  # live audits from the watchdog (slow under valgrind)
  curl -s -o /dev/null -w "$mpm %{http_code} /dirguard-status?format=json (after audits)\n" "$u/dirguard-status?format=json" || true
  stop_x "$pid" "$port"
  {
    echo "== $2 ($mpm MPM): $(grep -c 'DG0' "$root/error.log" || true) DG lines in the error log"
    "$python" "$top/tests/memcheck/findings.py" "$vlog"
  } >> "$out"
}

command -v valgrind >/dev/null || { echo "memcheck: valgrind is missing (make deps)"; exit 1; }
status=0
for mpm in ${MEMCHECK_MPMS:-event prefork}; do
  scenario "$mpm" "$mpm" "$findings"
done
# The detector itself: the test-panic build with one allocation leaked in post_config must be
# reported as a leak through the module.
panic_module="${DIRGUARD_PANIC_MODULE:-$top/target/test-panic/release/libmod_dirguard.so}"
if [ -f "$panic_module" ]; then
  module="$panic_module" DIRGUARD_TEST_LEAK=post_config scenario event planted-leak "$work/planted.txt"
  if grep -q '^FAIL: .* [1-9][0-9]* leaks through the module' "$work/planted.txt"; then
    echo "== detector check: a leak planted in the module (test-panic build) is reported" >> "$findings"
  else
    cat "$work/planted.txt"
    echo "FAIL: the leak planted in the module was not reported" >> "$findings"
  fi
fi
cat "$findings"
if grep -q '^FAIL' "$findings"; then status=1; fi
echo "memcheck: findings in $findings"
exit $status
