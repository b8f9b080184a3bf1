#!/usr/bin/env bash
# `make demo`: the incident that started mod_dirguard, end to end on loopback. A WordPress-like
# site whose wp-content/uploads is missing; Apache starts with the module; the module's lines
# from the error log are shown, with the command that fixes the fault; Apache stops.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
demo="$top/target/demo"
module="${DIRGUARD_MODULE:-$top/target/release/libmod_dirguard.so}"
apache2="${APACHE2:-/usr/sbin/apache2}"

[ -f "$module" ] || { echo "demo: $module is not built; run make" >&2; exit 1; }

free_port() {
  local p
  for p in $(seq 18480 18580); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "demo: no free port in 18480-18580" >&2; exit 1
}

rm -rf "$demo"
install -d -m 0755 "$demo/site/wp-content/themes" "$demo/site/wp-content/plugins"
echo '<?php /* WordPress would start here */' > "$demo/site/index.php"
echo 'hello from the demo site' > "$demo/site/index.html"
chmod 0644 "$demo/site/index.php" "$demo/site/index.html"
port=$(free_port)
user_lines=""
if [ "$(id -u)" = 0 ]; then user_lines=$'User www-data\nGroup www-data'; fi

cat > "$demo/httpd.conf" <<CONF
ServerRoot $demo
ServerName localhost
Listen 127.0.0.1:$port
PidFile $demo/httpd.pid
ErrorLog $demo/error.log
LogLevel warn
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule authz_host_module /usr/lib/apache2/modules/mod_authz_host.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
TypesConfig /etc/mime.types
$user_lines
LoadModule dirguard_module $module
DocumentRoot $demo/site
<Directory $demo/site>
    # The uploads directory WordPress writes media into: the server's User must write there.
    DirGuardRequire wp-content/uploads access=rw
</Directory>
# Re-audit every second while serving (the default is 5), and show the state.
DirGuardInterval 1
<Location /dirguard-status>
    SetHandler dirguard-status
    Require local
</Location>
CONF

stop() { "$apache2" -f "$demo/httpd.conf" -k stop 2>/dev/null || true; sleep 1; }
trap stop EXIT

echo "== The site: $demo/site (wp-content/uploads is missing)"
echo "== Starting Apache on 127.0.0.1:$port with mod_dirguard"
"$apache2" -f "$demo/httpd.conf" -k start
for _ in $(seq 1 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
echo "== GET / -> $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/index.html")"
echo "== What mod_dirguard wrote into the error log ($demo/error.log):"
grep 'dirguard:' "$demo/error.log" | sed 's/^/   /'
fix=$(grep -m1 'DG01101' "$demo/error.log" | sed 's/.*fix: //')
echo
echo "== The fix, as the log says:  $fix"
stop
uploads="$demo/site/wp-content/uploads"
if [ "$(id -u)" = 0 ]; then
  echo "== Running the fix as root, then starting Apache again"
  bash -c "$fix"
else
  echo "== Not root: creating the directory without the owner the fix sets, then starting again"
  install -d -m 0777 "$uploads"
fi
: > "$demo/error.log"
"$apache2" -f "$demo/httpd.conf" -k start
sleep 1.5
grep 'dirguard:' "$demo/error.log" | sed 's/^/   /'
status() { curl -s "http://127.0.0.1:$port/dirguard-status?format=json"; }

echo
echo "== Live: someone removes the uploads directory while Apache serves"
before=$(wc -l < "$demo/error.log")
mv "$uploads" "$uploads.away"
sleep 2
echo "== The error log, within the interval:"
tail -n +"$((before + 1))" "$demo/error.log" | grep 'DG01301' | sed 's/^/   /'
echo "== The status page, /dirguard-status?format=json:"
status | sed 's/^/   /'
echo
echo "== The directory comes back"
before=$(wc -l < "$demo/error.log")
mv "$uploads.away" "$uploads"
sleep 2
tail -n +"$((before + 1))" "$demo/error.log" | grep 'DG01302' | sed 's/^/   /'
echo "== Prometheus metrics, /dirguard-status?format=prometheus (excerpt):"
curl -s "http://127.0.0.1:$port/dirguard-status?format=prometheus" | grep -E '^dirguard_(directory_healthy|audits_total|audit_duration)' | sed 's/^/   /'
stop
trap - EXIT
echo "== Apache stopped."
