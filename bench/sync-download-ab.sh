#!/usr/bin/env bash
# ferry sync download (this build vs FERRY_BEFORE, default /work/main/bin/ferry.js) vs rclone -t16:
# the same 2,000 × 16 KiB objects, downloaded into fresh folders in alternating rounds (issue 11).
# Usage: RGW_BASE=/tmp/ferry-rgw-dev bash bench/sync-download-ab.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
EP=$S3_ENDPOINT; B=bench-syncx-$$; W=$(mktemp -d /tmp/syncx-dl.XXXX)
trap 'rm -rf "$W"' EXIT
export RCLONE_CONFIG=$W/rclone.conf
rclone config create rgw s3 provider=Minio endpoint="$EP" access_key_id="$AWS_ACCESS_KEY_ID" \
  secret_access_key="$AWS_SECRET_ACCESS_KEY" region=us-east-1 force_path_style=true list_version=2 >/dev/null
aws --endpoint-url "$EP" s3 mb "s3://$B" >/dev/null
node -e 'const fs=require("fs"),c=require("crypto");for(let i=0;i<2000;i++){const d=`${process.argv[1]}/d${Math.floor(i/1000)}`;fs.mkdirSync(d,{recursive:true});fs.writeFileSync(`${d}/f${i}.bin`,c.randomBytes(16384))}' "$W/src"
rclone copy --transfers 32 "$W/src" "rgw:$B/x" 2>/dev/null
t() { local n=$1; shift; local t0=$(secs); /usr/bin/time -o $W/c -f '%U %S' "$@" >/dev/null 2>&1; echo "$n $(echo "$(secs) - $t0" | bc) s wall $(awk '{print $1+$2}' $W/c) s CPU"; }
for r in $(seq "${1:-2}"); do
  t "ferry-t64 " node bin/ferry.js --endpoint "$EP" sync --no-progress --transfers 64 "s3://$B/x" "$W/a$r"
  t "main-t64  " node "${FERRY_BEFORE:-/work/main/bin/ferry.js}" --endpoint "$EP" sync --no-progress --transfers 64 "s3://$B/x" "$W/b$r"
  t "rclone-t16" rclone sync --transfers 16 "rgw:$B/x" "$W/c$r"
done
aws --endpoint-url "$EP" s3 rb --force "s3://$B" >/dev/null
uptime
