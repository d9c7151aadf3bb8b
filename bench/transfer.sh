#!/usr/bin/env bash
# Transfer benchmark: Ferry vs `aws s3 cp` vs `rclone copy` (Debian rclone 1.60), side by side in
# one run on the same S3 server, and Ferry's peak RSS while uploading a big file.
#
#   S3_ENDPOINT=http://127.0.0.1:7480 AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… bash bench/transfer.sh
#
# Knobs (environment): BIG_MIB (1024), SMALL_COUNT (10000), SMALL_KIB (16), RSS_MIB (4096),
# ROUNDS (1; rounds interleave the tools), ONLY (big|small|rss, default all), FERRY_FLAGS (extra
# global flags for ferry), SMALL_CONCURRENCY (16: files at once for ferry and rclone; aws uses its
# own default of 10), RGW_CEPH_CONF (a ceph.conf: run RGW's garbage collector at the end).
# Prints seconds per tool and ratios peer/ferry (> 1 means Ferry is faster).
# Needs a built tree (npx tsc -p tsconfig.build.json). Machines here are shared: quote ratios from
# one run, never absolute times alone.
set -euo pipefail
cd "$(dirname "$0")/.."
unset AWS_CA_BUNDLE # rclone 1.60 fails on it for plain-HTTP endpoints
: "${S3_ENDPOINT:?set S3_ENDPOINT}" "${AWS_ACCESS_KEY_ID:?}" "${AWS_SECRET_ACCESS_KEY:?}"
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1} AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
BIG_MIB=${BIG_MIB:-1024} SMALL_COUNT=${SMALL_COUNT:-10000} SMALL_KIB=${SMALL_KIB:-16}
RSS_MIB=${RSS_MIB:-4096} ROUNDS=${ROUNDS:-1} ONLY=${ONLY:-all} SMALL_CONCURRENCY=${SMALL_CONCURRENCY:-16}
read -r -a FERRY_EXTRA <<<"${FERRY_FLAGS:-}"

work=$(mktemp -d /tmp/ferry-bench.XXXXXX)
bucket=ferry-bench-$(date +%s)-$$
export RCLONE_CONFIG=$work/rclone.conf
cleanup() {
  aws --endpoint-url "$S3_ENDPOINT" s3 rb "s3://$bucket" --force >/dev/null 2>&1 || true
  # Ceph RGW frees deleted data only when its garbage collector runs (2 h later by default): on a
  # small dev cluster, benchmark runs fill the OSD. With RGW_CEPH_CONF set, collect it now.
  if [[ -n ${RGW_CEPH_CONF:-} ]]; then
    timeout 300 radosgw-admin -c "$RGW_CEPH_CONF" gc process --include-all >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
rclone config create s3b s3 provider=Minio endpoint="$S3_ENDPOINT" access_key_id="$AWS_ACCESS_KEY_ID" \
  secret_access_key="$AWS_SECRET_ACCESS_KEY" region=us-east-1 force_path_style=true list_version=2 >/dev/null
aws --endpoint-url "$S3_ENDPOINT" s3 mb "s3://$bucket" >/dev/null

ferry() { node bin/ferry.js --endpoint "$S3_ENDPOINT" "${FERRY_EXTRA[@]}" "$@"; }
now() { date +%s.%N; }
declare -A total
timed() { # name, command…
  local name=$1 t0 t1
  shift
  t0=$(now)
  "$@" >/dev/null
  t1=$(now)
  local s
  s=$(echo "$t1 - $t0" | bc -l)
  total[$name]=$(echo "${total[$name]:-0} + $s" | bc -l)
  printf '  %-22s %8.2f s\n' "$name" "$s"
}
ratio() { # label, ferry-key, peer-key…
  local label=$1 f=${total[$2]}
  shift 2
  local line="  $label:"
  for p in "$@"; do line+=$(printf '  %s/ferry = %.2f' "${p%%-*}" "$(echo "${total[$p]} / $f" | bc -l)"); done
  echo "$line"
}
mibs() { printf '%.0f MiB/s' "$(echo "$1 * $ROUNDS / ${total[$2]}" | bc -l)"; }

echo "== Ferry $(git rev-parse --short HEAD) vs aws $(aws --version 2>&1 | cut -d' ' -f1) vs $(rclone version | head -1) on $S3_ENDPOINT, $(nproc) cores, rounds=$ROUNDS"

if [[ $ONLY == all || $ONLY == big ]]; then
  head -c $((BIG_MIB * 1024 * 1024)) /dev/urandom >"$work/big.bin"
  echo "-- ${BIG_MIB} MiB file, up then down"
  for r in $(seq "$ROUNDS"); do
    # A fresh destination each round: rclone copy skips an object that is already there.
    timed ferry-up ferry cp --no-progress "$work/big.bin" "s3://$bucket/ferry-$r/big.bin"
    timed aws-up aws --endpoint-url "$S3_ENDPOINT" s3 cp --no-progress "$work/big.bin" "s3://$bucket/aws-$r/big.bin"
    timed rclone-up rclone copy "$work/big.bin" "s3b:$bucket/rclone-$r/"
    rm -f "$work/down.bin"
    timed ferry-down ferry cp --no-progress "s3://$bucket/ferry-$r/big.bin" "$work/down.bin"
    rm -f "$work/down.bin"
    timed aws-down aws --endpoint-url "$S3_ENDPOINT" s3 cp --no-progress "s3://$bucket/aws-$r/big.bin" "$work/down.bin"
    rm -rf "$work/rdown"
    timed rclone-down rclone copy "s3b:$bucket/rclone-$r/big.bin" "$work/rdown/"
    cmp -s "$work/big.bin" "$work/down.bin" || { echo "download differs!"; exit 1; }
  done
  echo "  ferry up $(mibs "$BIG_MIB" ferry-up), down $(mibs "$BIG_MIB" ferry-down)"
  ratio "big up  " ferry-up aws-up rclone-up
  ratio "big down" ferry-down aws-down rclone-down
  rm -f "$work/big.bin" "$work/down.bin"
  rm -rf "$work/rdown"
fi

if [[ $ONLY == all || $ONLY == small ]]; then
  mkdir -p "$work/small"
  for i in $(seq 0 $((SMALL_COUNT - 1))); do echo "$i"; done |
    xargs -P 2 -n 500 sh -c 'for i; do head -c '"$((SMALL_KIB * 1024))"' /dev/urandom > '"$work"'/small/f$i; done' _
  echo "-- ${SMALL_COUNT} files of ${SMALL_KIB} KiB, up then down"
  for r in $(seq "$ROUNDS"); do
    timed ferry-sup ferry cp -r --no-progress --concurrency "$SMALL_CONCURRENCY" "$work/small" "s3://$bucket/ferry-s$r/"
    timed aws-sup aws --endpoint-url "$S3_ENDPOINT" s3 cp --quiet --recursive "$work/small" "s3://$bucket/aws-s$r/small/"
    timed rclone-sup rclone copy --transfers "$SMALL_CONCURRENCY" "$work/small" "s3b:$bucket/rclone-s$r/small/"
    rm -rf "$work/d1" "$work/d2" "$work/d3"
    timed ferry-sdown ferry cp -r --no-progress --concurrency "$SMALL_CONCURRENCY" "s3://$bucket/ferry-s$r/small" "$work/d1"
    timed aws-sdown aws --endpoint-url "$S3_ENDPOINT" s3 cp --quiet --recursive "s3://$bucket/aws-s$r/small/" "$work/d2"
    timed rclone-sdown rclone copy --transfers "$SMALL_CONCURRENCY" "s3b:$bucket/rclone-s$r/small/" "$work/d3"
    [[ $(find "$work/d1" -type f | wc -l) == "$SMALL_COUNT" ]] || { echo "ferry download incomplete"; exit 1; }
  done
  ratio "small up  " ferry-sup aws-sup rclone-sup
  ratio "small down" ferry-sdown aws-sdown rclone-sdown
  rm -rf "$work/small" "$work/d1" "$work/d2" "$work/d3"
fi

if [[ $ONLY == all || $ONLY == rss ]]; then
  head -c $((RSS_MIB * 1024 * 1024)) /dev/urandom >"$work/huge.bin"
  echo "-- peak RSS of ferry cp, ${RSS_MIB} MiB upload, default settings"
  /usr/bin/time -v node bin/ferry.js --endpoint "$S3_ENDPOINT" cp --no-progress "$work/huge.bin" \
    "s3://$bucket/rss/huge.bin" 2>"$work/time.txt" >/dev/null
  rss_kib=$(awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}' "$work/time.txt")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
  echo "  peak RSS $((rss_kib / 1024)) MiB (limit: part size × part concurrency + 100 MiB = 16 MiB × 6 + 100 = 196 MiB), wall $wall"
  rm -f "$work/huge.bin"
fi
