#!/usr/bin/env bash
# `make demo`: the incident that started mod_dirguard, end to end on loopback, under target/demo.
#  1. A WordPress-like site whose wp-content/uploads is missing: the startup line and its fix.
#  2. Live: uploads disappears while Apache serves: FAILING, the status JSON, RECOVERED.
#  3. An upload CGI that silently exits 1 when it cannot write: Apache's bare line, and beside it
#     the explanation with the fix; then the same with DirGuardOnFailure 503.
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
say() { printf '\n== %s\n' "$*"; }
show() { sed 's/^/   /'; }
new_lines() { tail -n +"$(($1 + 1))" "$demo/error.log"; }
log_size() { wc -l < "$demo/error.log"; }

rm -rf "$demo"
site="$demo/site" uploads="$demo/site/wp-content/uploads"
cgi="$site/cgi-bin"
install -d -m 0755 "$site/wp-content/themes" "$site/wp-content/plugins" "$cgi"
echo 'hello from the demo site' > "$site/index.html"
cat > "$cgi/upload.cgi" <<CGI
#!/bin/sh
# Like many upload handlers: store the file, and exit 1 without a word if that fails.
exec 2>/dev/null
cat > "$uploads/upload.\$\$" || exit 1
printf 'Content-Type: text/plain\r\n\r\nstored\n'
CGI
chmod 0644 "$site/index.html"; chmod 0755 "$cgi/upload.cgi"
port=$(free_port) base="http://127.0.0.1:$port"
user_lines=""
if [ "$(id -u)" = 0 ]; then user_lines=$'User www-data\nGroup www-data'; fi

write_config() {  # $1: extra directives
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
LoadModule alias_module /usr/lib/apache2/modules/mod_alias.so
LoadModule cgid_module /usr/lib/apache2/modules/mod_cgid.so
TypesConfig /etc/mime.types
ScriptSock $demo/cgisock
$user_lines
LoadModule dirguard_module $module
DocumentRoot $site
ScriptAlias /cgi-bin/ $cgi/
<Directory $site>
    # The uploads directory WordPress (and the upload CGI below it) writes media into: the
    # server's User must be able to write there.
    DirGuardRequire wp-content/uploads access=rw
</Directory>
# Re-audit every second while serving (the default is 5), and show the state.
DirGuardInterval 1
<Location /dirguard-status>
    SetHandler dirguard-status
    Require local
</Location>
$1
CONF
}
start() {
  "$apache2" -f "$demo/httpd.conf" -k start
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return; sleep 0.1; done
}
stop() { "$apache2" -f "$demo/httpd.conf" -k stop 2>/dev/null || true; sleep 1; }
trap stop EXIT
write_config ""
: > "$demo/error.log"

say "1. The site $site: wp-content/uploads is missing. Starting Apache on 127.0.0.1:$port"
start
echo "   GET / -> $(curl -s -o /dev/null -w '%{http_code}' "$base/index.html")"
say "What mod_dirguard wrote into the error log ($demo/error.log):"
grep 'dirguard:' "$demo/error.log" | show
fix=$(grep -m1 'DG01101' "$demo/error.log" | sed 's/.*fix: //')
stop
if [ "$(id -u)" = 0 ]; then
  say "Running the fix, as the log says: $fix"
  bash -c "$fix"
else
  say "Not root: creating uploads without the owner the fix would set ($fix)"
  install -d -m 0777 "$uploads"
fi
: > "$demo/error.log"
start
sleep 0.5
grep 'dirguard:' "$demo/error.log" | show

say "2. Live: the uploads directory disappears while Apache serves"
mv "$uploads" "$uploads.away"; n=$(log_size); sleep 2
new_lines "$n" | grep 'DG01301' | show
say "The status page, $base/dirguard-status?format=json:"
curl -s "$base/dirguard-status?format=json" | show
say "The directory comes back"
mv "$uploads.away" "$uploads"; n=$(log_size); sleep 2
new_lines "$n" | grep 'DG01302' | show

say "3. An upload while uploads is missing: the CGI exits 1 without a word"
mv "$uploads" "$uploads.away"; sleep 2; n=$(log_size)
echo "   POST /cgi-bin/upload.cgi -> $(curl -s -o /dev/null -w '%{http_code}' --data 'picture' "$base/cgi-bin/upload.cgi")"
sleep 0.3
say "Apache's own line, and mod_dirguard's beside it:"
new_lines "$n" | grep -E 'End of script output|DG01502' | show
stop

say "The same with 'DirGuardOnFailure 503' for /cgi-bin/: answered before the CGI runs"
write_config $'<Location /cgi-bin/>\n    DirGuardOnFailure 503\n    DirGuardRetryAfter 60\n</Location>'
: > "$demo/error.log"
start; sleep 0.5; n=$(log_size)
curl -s -i --data 'picture' "$base/cgi-bin/upload.cgi" | grep -E '^HTTP/|^Retry-After' | show
sleep 0.3
new_lines "$n" | grep 'DG01501' | show
mv "$uploads.away" "$uploads"
stop
trap - EXIT
say "Apache stopped."
