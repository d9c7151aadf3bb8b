#!/usr/bin/env bash
# `ferry sync` vs `aws s3 sync` vs `rclone sync --transfers 16`, same RGW, same run (issue 11):
#   1. upload COUNT × SIZE local files (each tool to its own prefix),
#   2. download them (each tool from the prefix it uploaded, into its own folder),
#   3. a no-change re-sync of the upload (local → S3 again).
# For each: wall time, CPU time (user+sys; robust on a loaded machine), and the S3 requests the tool
# made (RGW's access log, as list-10k.sh counts), RGW's and the OSD's CPU during it, and the machine's
# idle share. FERRY_LEAN_S3=0 in the environment measures
# ferry with the SDK for every request (no lean small-object path, src/s3/small-object.ts).
# Objects and folders are deleted at the end, then RGW's garbage collection is run.
# FERRY_BEFORE=/path/to/other/bin/ferry.js adds "ferry (before)" upload and download rows: another
# build in the same run. SKIP_AWS=1 leaves aws out (it is never the best peer here, and slow).
# Usage: RGW_BASE=/tmp/ferry-rgw-dev bash bench/sync.sh [COUNT] [SIZE_KIB] [FERRY_TRANSFERS]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
LOG=$RGW_BASE/cluster/log/ceph-client.rgw.a.log
COUNT=${1:-10000}
KIB=${2:-16}
TRANSFERS=${3:-64}
BUCKET=bench-sync-$$
WORK=$(mktemp -d /tmp/ferry-bench-sync.XXXXXX)
EP=$S3_ENDPOINT
trap 'rm -rf "$WORK"' EXIT

export RCLONE_CONFIG=$WORK/rclone.conf
rclone config create rgw s3 provider=Minio endpoint="$EP" access_key_id="$AWS_ACCESS_KEY_ID" \
  secret_access_key="$AWS_SECRET_ACCESS_KEY" region=us-east-1 force_path_style=true list_version=2 >/dev/null
aws --endpoint-url "$EP" s3 mb "s3://$BUCKET" >/dev/null

# COUNT files of KIB KiB (random bytes), 1,000 per folder.
node -e '
const fs = require("fs"), crypto = require("crypto");
const [dir, count, kib] = [process.argv[1], +process.argv[2], +process.argv[3]];
for (let i = 0; i < count; i++) {
  const d = `${dir}/d${String(Math.floor(i / 1000)).padStart(2, "0")}`;
  if (i % 1000 === 0) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(`${d}/f${String(i).padStart(5, "0")}.bin`, crypto.randomBytes(kib * 1024));
}' "$WORK/src" "$COUNT" "$KIB"

# Requests for our bucket logged since line $1: "LIST=n HEAD=n GET=n PUT=n other=n".
count_requests() {
  sleep 2
  tail -n +"$(($1 + 1))" "$LOG" | grep -F "beast:" | grep -E " /$BUCKET[/? ]" | awk '
    { for (i = 1; i <= NF; i++) if ($i ~ /^"(GET|HEAD|PUT|POST|DELETE)$/) { m = substr($i, 2); p = $(i + 1) } }
    m == "GET" && p ~ /[?&](list-type|prefix|delimiter)=/ { l++; next }
    m == "HEAD" { h++; next } m == "GET" { g++; next } m == "PUT" { u++; next } { o++ }
    END { printf "LIST=%d HEAD=%d GET=%d PUT=%d other=%d", l, h, g, u, o }'
}

# RGW's and the OSD's CPU (utime + stime, clock ticks) and the machine's idle ticks: on 2 shared
# cores the store's CPU per request is most of what a small-file sync costs.
RGW_PID=$(cat "$RGW_BASE/cluster/run/ceph-client.rgw.a.pid")
OSD_PID=$(cat "$RGW_BASE/cluster/run/ceph-osd.0.pid")
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
idle() { awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }

run() { # label, command...: wall time, CPU seconds (user+sys of the tool and its children), requests
  local name=$1; shift
  local lines t0 t1 cpu r0 o0 i0 a0 r1 o1 i1 a1
  lines=$(wc -l <"$LOG")
  r0=$(ticks "$RGW_PID"); o0=$(ticks "$OSD_PID"); read -r i0 a0 < <(idle)
  t0=$(secs)
  /usr/bin/time -o "$WORK/cpu.txt" -f '%U %S' "$@" >"$WORK/out.txt" 2>&1 || { echo "$name FAILED:"; tail -5 "$WORK/out.txt"; exit 1; }
  t1=$(secs)
  r1=$(ticks "$RGW_PID"); o1=$(ticks "$OSD_PID"); read -r i1 a1 < <(idle)
  cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$WORK/cpu.txt")
  printf '%-38s %7.2f s wall %6.2f s CPU (%5.2f ms/file)  %s  RGW %.2f s OSD %.2f s CPU, idle %.0f%%\n' "$name" \
    "$(echo "$t1 - $t0" | bc)" "$cpu" "$(echo "scale=2; $cpu * 1000 / $COUNT" | bc)" "$(count_requests "$lines")" \
    "$(echo "scale=2; ($r1 - $r0) / 100" | bc)" "$(echo "scale=2; ($o1 - $o0) / 100" | bc)" \
    "$(echo "scale=1; 100 * ($i1 - $i0) / ($a1 - $a0)" | bc)"
}

files() { find "$1" -type f | wc -l; }

FERRY=(node bin/ferry.js --endpoint "$EP")
echo "sync of $COUNT × $KIB KiB, RGW $EP, bucket $BUCKET; ferry --transfers $TRANSFERS; $(uptime | sed 's/.*load/load/')"
run "upload   ferry sync"            "${FERRY[@]}" sync --no-progress --transfers "$TRANSFERS" "$WORK/src" "s3://$BUCKET/ferry"
[ -z "${FERRY_BEFORE:-}" ] || run "upload   ferry sync (before)" node "$FERRY_BEFORE" --endpoint "$EP" sync --no-progress --transfers "$TRANSFERS" "$WORK/src" "s3://$BUCKET/before"
[ -n "${SKIP_AWS:-}" ] || run "upload   aws s3 sync"           aws --endpoint-url "$EP" s3 sync --only-show-errors "$WORK/src" "s3://$BUCKET/aws"
run "upload   rclone sync -t16"      rclone sync --transfers 16 "$WORK/src" "rgw:$BUCKET/rclone"
run "download ferry sync"            "${FERRY[@]}" sync --no-progress --transfers "$TRANSFERS" "s3://$BUCKET/ferry" "$WORK/down-ferry"
[ -z "${FERRY_BEFORE:-}" ] || run "download ferry sync (before)" node "$FERRY_BEFORE" --endpoint "$EP" sync --no-progress --transfers "$TRANSFERS" "s3://$BUCKET/before" "$WORK/down-before"
[ -n "${SKIP_AWS:-}" ] || run "download aws s3 sync"           aws --endpoint-url "$EP" s3 sync --only-show-errors "s3://$BUCKET/aws" "$WORK/down-aws"
run "download rclone sync -t16"      rclone sync --transfers 16 "rgw:$BUCKET/rclone" "$WORK/down-rclone"
echo "downloaded files: ferry $(files "$WORK/down-ferry"), rclone $(files "$WORK/down-rclone")${FERRY_BEFORE:+, before $(files "$WORK/down-before")}$([ -n "${SKIP_AWS:-}" ] || echo ", aws $(files "$WORK/down-aws")")"
run "re-sync  ferry sync (no change)" "${FERRY[@]}" sync --no-progress --transfers "$TRANSFERS" "$WORK/src" "s3://$BUCKET/ferry"
grep -o 'copied.*' "$WORK/out.txt" | sed 's/^/                                   ferry: /'
[ -n "${SKIP_AWS:-}" ] || run "re-sync  aws s3 sync (no change)" aws --endpoint-url "$EP" s3 sync --only-show-errors "$WORK/src" "s3://$BUCKET/aws"
run "re-sync  rclone sync -t16 (no change)" rclone sync --transfers 16 "$WORK/src" "rgw:$BUCKET/rclone"
echo "$(uptime | sed 's/.*load/load/')"

echo "cleaning up s3://$BUCKET and running gc"
aws --endpoint-url "$EP" s3 rb --force "s3://$BUCKET" >/dev/null
radosgw-admin -c "$RGW_BASE/cluster/ceph.conf" gc process --include-all 2>/dev/null || true
