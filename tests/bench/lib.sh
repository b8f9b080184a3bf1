# Shared by the benchmark scripts (sourced): the Apache configuration every benchmark server
# starts from, and small process helpers.

apache2="${APACHE2:-/usr/sbin/apache2}"
module="${DIRGUARD_MODULE:-$top/target/release/libmod_dirguard.so}"

# base_config ROOT PORT MPM DOCROOT [LOGLEVEL]: a self-contained server; the User/Group lines only
# when running as root (Apache then switches to www-data, as in production).
base_config() {
  cat <<CONF
ServerRoot $1
ServerName localhost
Listen 127.0.0.1:$2
PidFile $1/httpd.pid
ErrorLog $1/error.log
LogLevel ${5:-warn}
LoadModule mpm_${3}_module /usr/lib/apache2/modules/mod_mpm_${3}.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule authz_host_module /usr/lib/apache2/modules/mod_authz_host.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
TypesConfig /etc/mime.types
DocumentRoot $4
CONF
  if [ "$(id -u)" = 0 ]; then printf 'User www-data\nGroup www-data\n'; fi
}

# module_config DIR...: the module with one rw requirement per directory.
module_config() {
  echo "LoadModule dirguard_module $module"
  local d
  for d in "$@"; do echo "DirGuardRequire $d access=rw"; done
}

# wait_port PORT: until something listens there (at most 60 s).
wait_port() {
  for _ in $(seq 1 600); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "bench: nothing listens on 127.0.0.1:$1" >&2; return 1
}

# get_n PORT URL N: N sequential HTTP/1.0 requests, responses discarded.
get_n() {
  for _ in $(seq 1 "$3"); do
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$2" >&3
    cat <&3 >/dev/null
    exec 3<&-
  done
}

# stop_x PID PORT: ends an `apache2 -X` with SIGINT (prefork in one-process mode ignores SIGTERM).
# A process blocked in accept() may only notice the signal at its next connection, so it gets a
# wake-up connection every half second; never waits more than 60 s.
stop_x() {
  kill -INT "$1" 2>/dev/null || true
  for i in $(seq 1 600); do
    kill -0 "$1" 2>/dev/null || break
    if [ $((i % 5)) = 0 ]; then (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null || true; fi
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
