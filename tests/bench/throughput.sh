#!/usr/bin/env bash
# Wall-clock throughput and p99 of a static file, two identical Apache servers (event MPM) side by
# side, measured alternately A B A B ... with wrk; the figure is the median of the per-pair ratios.
# An A/A pair of two servers without the module shows the noise band of this machine.
# Usage: throughput.sh PAIRS SECONDS
# Prints lines: "ab <ratio> <p99 ratio>", "aa <ratio> <p99 ratio>", "rss <with KiB> <without KiB>",
# and "runs-ab <ratios...>", "runs-aa <ratios...>".
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
pairs=${1:-5} secs=${2:-5}
. "$top/tests/bench/lib.sh"
work="$top/target/bench/throughput"
rm -rf "$work"; install -d -m 0755 "$work/htdocs"
head -c 4096 /dev/zero | tr '\0' 'x' > "$work/htdocs/index.html"; chmod 0644 "$work/htdocs/index.html"
for i in $(seq 1 10); do install -d -m 0777 "$work/htdocs/d$i"; done

server() {  # $1 name, $2 port, $3 with|without
  local d="$work/$1"; install -d -m 0755 "$d"
  {
    base_config "$d" "$2" event "$work/htdocs"
    echo "StartServers 2"
    if [ "$3" = with ]; then
      module_config "$work"/htdocs/d{1..10}
      echo "DirGuardExplain 5xx"
    fi
  } > "$d/httpd.conf"
  "$apache2" -f "$d/httpd.conf" -k start
}
stop_all() { for n in a b c; do [ -f "$work/$n/httpd.conf" ] && "$apache2" -f "$work/$n/httpd.conf" -k stop 2>/dev/null || true; done; }
trap stop_all EXIT
server a 18901 with; server b 18902 without; server c 18903 without
sleep 1
measure() {  # port -> "requests/s p99_ms"
  wrk -t2 -c16 -d"${secs}s" --latency "http://127.0.0.1:$1/index.html" 2>/dev/null | awk '
    /Requests\/sec/ { rps = $2 }
    /^ +99%/ { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } p99 = v }
    END { print rps, p99 }'
}
for port in 18901 18902 18903; do measure "$port" >/dev/null; done  # warm-up
ab=() abp=() aa=() aap=()
for _ in $(seq 1 "$pairs"); do
  read -r ra pa <<<"$(measure 18901)"; read -r rb pb <<<"$(measure 18902)"
  ab+=("$(awk -v a="$ra" -v b="$rb" 'BEGIN { printf "%.3f", a / b }')")
  abp+=("$(awk -v a="$pa" -v b="$pb" 'BEGIN { printf "%.3f", a / b }')")
  read -r rc pc <<<"$(measure 18903)"; read -r rb2 pb2 <<<"$(measure 18902)"
  aa+=("$(awk -v a="$rc" -v b="$rb2" 'BEGIN { printf "%.3f", a / b }')")
  aap+=("$(awk -v a="$pc" -v b="$pb2" 'BEGIN { printf "%.3f", a / b }')")
done
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
rss() {  # largest child RSS of a server, KiB
  local parent; parent=$(cat "$work/$1/httpd.pid")
  for c in $(pgrep -P "$parent"); do awk '/^VmRSS:/ { print $2 }' "/proc/$c/status"; done | sort -n | tail -1
}
echo "ab $(median "${ab[@]}") $(median "${abp[@]}")"
echo "aa $(median "${aa[@]}") $(median "${aap[@]}")"
echo "runs-ab ${ab[*]}"
echo "runs-aa ${aa[*]}"
echo "rss $(rss a) $(rss b)"
