#!/usr/bin/env bash
# Two-way sync, local ↔ S3: `ferry sync --bidirectional` vs `rclone bisync`, side by side in one run.
# N files of KIB KiB in a local folder; each tool gets its own local copy and S3 prefix. Steps:
# the first run (--resync: uploads all), a no-change run, and a run after CHANGED files changed on
# each side. Prints seconds per step and the ratio rclone/ferry (>1: ferry faster).
# Needs: rgw.env sourced (S3_ENDPOINT, keys), dist/ built (npx tsc -p tsconfig.build.json).
set -euo pipefail
N=${N:-1000} KIB=${KIB:-4} CHANGED=${CHANGED:-10}
work=$(mktemp -d /tmp/ferry-bisync-bench.XXXXXX)
prefix=bench-bisync-$(date +%s)-$$
export RCLONE_CONFIG=$work/rclone.conf XDG_STATE_HOME=$work/state
cleanup() {
  node bin/ferry.js --endpoint "$S3_ENDPOINT" rm -r "s3://ferry-test/$prefix/" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
rclone config create s3b s3 provider=Minio endpoint="$S3_ENDPOINT" access_key_id="$AWS_ACCESS_KEY_ID" \
  secret_access_key="$AWS_SECRET_ACCESS_KEY" region=us-east-1 force_path_style=true list_version=2 >/dev/null
mkdir -p "$work/seed"
for i in $(seq 1 "$N"); do head -c $((KIB * 1024)) /dev/urandom >"$work/seed/f$((i % 10))-$i.bin"; done
cp -a "$work/seed" "$work/ferry"; cp -a "$work/seed" "$work/rclone"
ferry() { node bin/ferry.js --endpoint "$S3_ENDPOINT" sync --bidirectional "$@" "$work/ferry/" "s3://ferry-test/$prefix/ferry/"; }
rc() { rclone bisync "$work/rclone" "s3b:ferry-test/$prefix/rclone" --workdir "$work/rclone-state" --transfers 16 "$@" >/dev/null 2>&1; }
now() { date +%s.%N; }
row() { # step, ferry command…, --, rclone command…
  local step=$1; shift; local f=() r=(); while [[ $1 != -- ]]; do f+=("$1"); shift; done; shift; r=("$@")
  local t0 t1 t2
  t0=$(now); "${f[@]}" >/dev/null 2>&1; t1=$(now); "${r[@]}"; t2=$(now)
  awk -v s="$step" -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { f=b-a; r=c-b; printf "%-22s ferry %7.2f s   rclone %7.2f s   rclone/ferry %5.2fx\n", s, f, r, r/f }'
}
change() { # CHANGED files changed locally and CHANGED others in the bucket, per tool
  for i in $(seq 1 "$CHANGED"); do
    echo "local $i" >>"$work/ferry/f1-$((i * 10 + 1)).bin"; echo "local $i" >>"$work/rclone/f1-$((i * 10 + 1)).bin"
    echo "remote $i" | node bin/ferry.js --endpoint "$S3_ENDPOINT" cp - "s3://ferry-test/$prefix/ferry/f2-$((i * 10 + 2)).bin" >/dev/null
    echo "remote $i" | rclone rcat "s3b:ferry-test/$prefix/rclone/f2-$((i * 10 + 2)).bin"
  done
}
echo "N=$N × ${KIB} KiB, load: $(cut -d' ' -f1-3 /proc/loadavg)"
row "first run (--resync)" ferry --resync -- rc --resync
row "no change" ferry -- rc
change
row "$CHANGED+$CHANGED changed" ferry -- rc
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
