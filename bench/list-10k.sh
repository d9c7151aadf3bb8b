#!/usr/bin/env bash
# `ferry ls` vs `rclone ls` / `rclone lsl --use-server-modtime` vs `aws s3 ls` on one prefix of
# 10,000 objects, same RGW, same run, interleaved: wall time, CPU time (user+sys), and the S3
# requests each made (counted in RGW's access log); medians and ratios at the end.
# Needs a running RGW started by scripts/rgw/start.sh: RGW_BASE points at it (default: the test one).
# Usage: RGW_BASE=/tmp/ferry-rgw-dev bash bench/list-10k.sh [COUNT] [ROUNDS]
# FERRY_BEFORE=/path/to/other/bin/ferry.js adds a "ferry ls (before)" row: another build, same run.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
LOG=$RGW_BASE/cluster/log/ceph-client.rgw.a.log
COUNT=${1:-10000}
ROUNDS=${2:-3}
BUCKET=bench-list
PREFIX=list$COUNT
npx tsx bench/seed-objects.ts "$BUCKET" "$PREFIX" "$COUNT"

# Requests for our bucket logged since line $1 of the access log: "LIST=n HEAD=n GET=n other=n".
count_requests() {
  sleep 1
  tail -n +"$(($1 + 1))" "$LOG" | grep -F "beast:" | grep -F " /$BUCKET" | awk '
    { for (i = 1; i <= NF; i++) if ($i ~ /^"(GET|HEAD|PUT|POST|DELETE)$/) { m = substr($i, 2); p = $(i + 1) } }
    m == "GET" && p ~ /[?&](list-type|prefix|delimiter)=/ { l++; next }
    m == "HEAD" { h++; next } m == "GET" { g++; next } { o++ }
    END { printf "LIST=%d HEAD=%d GET=%d other=%d", l, h, g, o }'
}

# rclone (recipe in ../shared/reference/peers.md): a config of its own, same endpoint and keys.
unset AWS_CA_BUNDLE
RCLONE_CONF=$(mktemp)
trap 'rm -f "$RCLONE_CONF" "$RCLONE_CONF.times" "$RCLONE_CONF.time"' EXIT
printf '[s3b]\ntype = s3\nprovider = Minio\nendpoint = %s\naccess_key_id = %s\nsecret_access_key = %s\nregion = us-east-1\nforce_path_style = true\nlist_version = 2\n' \
  "$S3_ENDPOINT" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$RCLONE_CONF"

run() { # name, command...
  local name=$1; shift
  local lines out wall cpu
  lines=$(wc -l <"$LOG")
  out=$( { /usr/bin/time -f '%e %U %S' -o "$RCLONE_CONF.time" "$@" | wc -l; } )
  read -r wall user sys <"$RCLONE_CONF.time"
  cpu=$(echo "$user + $sys" | bc)
  echo "$name|$wall|$cpu" >>"$RCLONE_CONF.times"
  printf '%-28s %6.2f s  cpu %5.2f s  %6d lines  %s\n' "$name" "$wall" "$cpu" "$out" "$(count_requests "$lines")"
}

echo "listing s3://$BUCKET/$PREFIX/ ($COUNT objects), $ROUNDS rounds, interleaved; $(uptime | sed 's/.*load/load/')"
for r in $(seq 1 "$ROUNDS"); do
  [ -z "${FERRY_BEFORE:-}" ] || run "ferry ls (before)" node "$FERRY_BEFORE" --endpoint "$S3_ENDPOINT" ls "s3://$BUCKET/$PREFIX/"
  run "ferry ls" node bin/ferry.js --endpoint "$S3_ENDPOINT" ls "s3://$BUCKET/$PREFIX/"
  run "rclone ls" rclone --config "$RCLONE_CONF" ls "s3b:$BUCKET/$PREFIX/"
  run "ferry ls -l" node bin/ferry.js --endpoint "$S3_ENDPOINT" ls -l "s3://$BUCKET/$PREFIX/"
  run "rclone lsl (server modtime)" rclone --config "$RCLONE_CONF" lsl --use-server-modtime "s3b:$BUCKET/$PREFIX/"
  run "aws s3 ls" aws --endpoint-url "$S3_ENDPOINT" s3 ls "s3://$BUCKET/$PREFIX/"
done
# Medians per command, and ferry's speed against each peer (time ratio: > 1 means ferry is faster).
awk -F'|' '{ w[$1] = w[$1] " " $2; c[$1] = c[$1] " " $3 }
  function med(s,   a, n, i, j, t) { n = split(s, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t } return a[int((n + 1) / 2)] }
  END {
    for (k in w) { mw[k] = med(w[k]); mc[k] = med(c[k]); printf "median %-28s %6.2f s  cpu %5.2f s\n", k, mw[k], mc[k] }
    if ("ferry ls (before)" in w) printf "ferry ls vs ferry ls (before): %.2fx\n", mw["ferry ls (before)"] / mw["ferry ls"]
    printf "ferry ls vs rclone ls: %.2fx   ferry ls -l vs rclone lsl: %.2fx   ferry ls vs aws s3 ls: %.2fx\n",
      mw["rclone ls"] / mw["ferry ls"], mw["rclone lsl (server modtime)"] / mw["ferry ls -l"], mw["aws s3 ls"] / mw["ferry ls"]
  }' "$RCLONE_CONF.times"
echo "$(uptime | sed 's/.*load/load/')"
