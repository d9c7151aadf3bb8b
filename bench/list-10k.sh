#!/usr/bin/env bash
# `ferry ls` vs `aws s3 ls` on one prefix of 10,000 objects, same RGW, same run: wall time and the
# S3 requests each made (counted in RGW's access log).
# Needs a running RGW started by scripts/rgw/start.sh: RGW_BASE points at it (default: the test one).
# Usage: RGW_BASE=/tmp/ferry-rgw-dev bash bench/list-10k.sh [COUNT] [ROUNDS]
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

run() { # name, command...
  local name=$1; shift
  local start lines t0 t1 out
  lines=$(wc -l <"$LOG")
  t0=$(date +%s.%N)
  out=$("$@" | wc -l)
  t1=$(date +%s.%N)
  printf '%-28s %6.2f s  %6d lines  %s\n' "$name" "$(echo "$t1 - $t0" | bc)" "$out" "$(count_requests "$lines")"
}

echo "listing s3://$BUCKET/$PREFIX/ ($COUNT objects), $ROUNDS rounds, interleaved"
for r in $(seq 1 "$ROUNDS"); do
  run "ferry ls" node bin/ferry.js --endpoint "$S3_ENDPOINT" ls "s3://$BUCKET/$PREFIX/"
  run "ferry ls -l" node bin/ferry.js --endpoint "$S3_ENDPOINT" ls -l "s3://$BUCKET/$PREFIX/"
  run "aws s3 ls" aws --endpoint-url "$S3_ENDPOINT" s3 ls "s3://$BUCKET/$PREFIX/"
done
