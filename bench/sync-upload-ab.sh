#!/usr/bin/env bash
# `ferry sync` upload of COUNT × 16 KiB local files (issue 11): this build (one row per --transfers
# value in TRANSFERS_LIST), FERRY_BEFORE's build (another ferry, e.g. main's, at the first of
# those values) and `rclone sync --transfers 16`, in alternating rounds against the same RGW, each
# round into fresh prefixes of one bucket. Per row: wall time, the tool's CPU (user + sys, of it and
# its children), RGW's and the OSD's CPU during the run (/proc/<pid>/stat: on 2 shared cores every
# ms a client saves per file can go to the store), the machine's idle share during the run, and
# the rclone/ferry wall ratio of the round (the must-show's figure; machine load moves all rows).
# Medians over the rounds at the end. The bucket is deleted and RGW's gc run at the end.
# Usage: RGW_BASE=/tmp/ferry-rgw-dev [FERRY_BEFORE=/path/bin/ferry.js] [TRANSFERS_LIST="64"] \
#          bash bench/sync-upload-ab.sh [COUNT] [ROUNDS]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
COUNT=${1:-2000}
ROUNDS=${2:-3}
TLIST=${TRANSFERS_LIST:-64}
EP=$S3_ENDPOINT
B=bench-syncup-$$
W=$(mktemp -d /tmp/ferry-bench-syncup.XXXXXX)
trap 'rm -rf "$W"' EXIT
RUN=$RGW_BASE/cluster/run
RGW_PID=$(cat "$RUN/ceph-client.rgw.a.pid")
OSD_PID=$(cat "$RUN/ceph-osd.0.pid")
export RCLONE_CONFIG=$W/rclone.conf
rclone config create rgw s3 provider=Minio endpoint="$EP" access_key_id="$AWS_ACCESS_KEY_ID" \
  secret_access_key="$AWS_SECRET_ACCESS_KEY" region=us-east-1 force_path_style=true list_version=2 >/dev/null
aws --endpoint-url "$EP" s3 mb "s3://$B" >/dev/null
node -e '
const fs = require("fs"), crypto = require("crypto");
const [dir, count] = [process.argv[1], +process.argv[2]];
for (let i = 0; i < count; i++) {
  const d = `${dir}/d${String(Math.floor(i / 1000)).padStart(2, "0")}`;
  if (i % 1000 === 0) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(`${d}/f${String(i).padStart(5, "0")}.bin`, crypto.randomBytes(16384));
}' "$W/src" "$COUNT"

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime, clock ticks (1/100 s)
idle() { awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
RESULTS=$W/results.txt
: >"$RESULTS"

row() { # name, command...: one line, and "name wall cpu rgw osd" into $RESULTS
  local name=$1; shift
  local t0 t1 r0 r1 o0 o1 i0 i1 wall cpu rgw osd idlepct
  r0=$(ticks "$RGW_PID"); o0=$(ticks "$OSD_PID"); read -r i0 a0 < <(idle); t0=$(secs)
  /usr/bin/time -o "$W/cpu.txt" -f '%U %S' "$@" >"$W/out.txt" 2>&1 || { echo "$name FAILED:"; tail -5 "$W/out.txt"; exit 1; }
  t1=$(secs); r1=$(ticks "$RGW_PID"); o1=$(ticks "$OSD_PID"); read -r i1 a1 < <(idle)
  wall=$(echo "$t1 - $t0" | bc)
  cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$W/cpu.txt")
  rgw=$(echo "scale=2; ($r1 - $r0) / 100" | bc)
  osd=$(echo "scale=2; ($o1 - $o0) / 100" | bc)
  idlepct=$(echo "scale=1; 100 * ($i1 - $i0) / ($a1 - $a0)" | bc)
  printf '%-22s %7.2f s wall %6.2f s CPU (%s user+sys; %5.3f ms/file)  RGW %6.2f s  OSD %6.2f s  idle %5.1f%%\n' \
    "$name" "$wall" "$cpu" "$(tr ' ' '+' <"$W/cpu.txt")" "$(echo "scale=3; $cpu * 1000 / $COUNT" | bc)" "$rgw" "$osd" "$idlepct"
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$wall" "$cpu" "$rgw" "$osd" >>"$RESULTS"
  LAST_WALL=$wall
}

FERRY=(node bin/ferry.js --endpoint "$EP" sync --no-progress)
echo "upload of $COUNT × 16 KiB, RGW $EP, bucket $B, $ROUNDS rounds; $(uptime | sed 's/.*load/load/')"
for r in $(seq "$ROUNDS"); do
  for t in $TLIST; do
    row "ferry -t$t" "${FERRY[@]}" --transfers "$t" "$W/src" "s3://$B/r$r-ferry-t$t"
    eval "WALL_T$t=\$LAST_WALL"
  done
  first=${TLIST%% *}
  [ -z "${FERRY_BEFORE:-}" ] ||
    row "ferry (before) -t$first" node "$FERRY_BEFORE" --endpoint "$EP" sync --no-progress --transfers "$first" "$W/src" "s3://$B/r$r-before"
  row "rclone -t16" rclone sync --transfers 16 "$W/src" "rgw:$B/r$r-rclone"
  for t in $TLIST; do
    eval "w=\$WALL_T$t"
    echo "  round $r: rclone / ferry -t$t wall = $(echo "scale=2; $LAST_WALL / $w" | bc)×"
  done
done
echo "medians over $ROUNDS rounds:"
med() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
cut -f1 "$RESULTS" | sort -u | while IFS= read -r n; do
  col() { awk -F'\t' -v n="$n" -v c="$1" '$1 == n { print $c }' "$RESULTS" | med; }
  printf '  %-22s wall %6.2f s  CPU %6.2f s  RGW %6.2f s  OSD %6.2f s\n' "$n" "$(col 2)" "$(col 3)" "$(col 4)" "$(col 5)"
done
echo "$(uptime | sed 's/.*load/load/')"
echo "cleaning up s3://$B and running gc"
aws --endpoint-url "$EP" s3 rb --force "s3://$B" >/dev/null
radosgw-admin -c "$RGW_BASE/cluster/ceph.conf" gc process --include-all 2>/dev/null || true
