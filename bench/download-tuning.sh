#!/usr/bin/env bash
# Download tuning: `ferry cp s3://… local` of one big object with several part concurrencies and
# part sizes, interleaved with `aws s3 cp` of the same object, ROUNDS times; prints the median
# seconds of each setting and its ratio aws/ferry (> 1: Ferry faster).
#
#   RGW_BASE=/tmp/ferry-rgw-dev ROUNDS=3 bash bench/download-tuning.sh
#
# Knobs: BIG_MIB (1024), ROUNDS (3), SETTINGS ("6:16 8:16 10:16 12:16 8:32 10:8", concurrency:MiB).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
BIG_MIB=${BIG_MIB:-1024} ROUNDS=${ROUNDS:-3}
SETTINGS=${SETTINGS:-"6:16 8:16 10:16 12:16 8:32 10:8"}
work=$(mktemp -d /tmp/ferry-dltune.XXXXXX)
bucket=ferry-dltune-$(date +%s)-$$
cleanup() {
  aws --endpoint-url "$S3_ENDPOINT" s3 rb "s3://$bucket" --force >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
aws --endpoint-url "$S3_ENDPOINT" s3 mb "s3://$bucket" >/dev/null
head -c $((BIG_MIB * 1024 * 1024)) /dev/urandom >"$work/big.bin"
aws --endpoint-url "$S3_ENDPOINT" s3 cp --no-progress "$work/big.bin" "s3://$bucket/big.bin" >/dev/null
declare -A times
run() { # name, command…
  local name=$1 t0 t1
  shift
  rm -f "$work/down.bin"
  t0=$(secs)
  "$@" >/dev/null
  t1=$(secs)
  cmp -s "$work/big.bin" "$work/down.bin" || { echo "$name: download differs!"; exit 1; }
  times[$name]+="$(echo "$t1 - $t0" | bc -l) "
}
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "== ${BIG_MIB} MiB download, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), rounds=$ROUNDS"
for r in $(seq "$ROUNDS"); do
  run aws aws --endpoint-url "$S3_ENDPOINT" s3 cp --no-progress "s3://$bucket/big.bin" "$work/down.bin"
  for s in $SETTINGS; do
    run "ferry-$s" node bin/ferry.js --endpoint "$S3_ENDPOINT" --part-concurrency "${s%%:*}" \
      --part-size "${s##*:}MiB" cp --no-progress "s3://$bucket/big.bin" "$work/down.bin"
  done
done
aws_med=$(median "${times[aws]}")
printf '  %-16s median %6.2f s   (%s)\n' aws "$aws_med" "${times[aws]% }"
for s in $SETTINGS; do
  m=$(median "${times[ferry-$s]}")
  printf '  %-16s median %6.2f s   aws/ferry = %.2f   (%s)\n' "ferry c=${s%%:*} p=${s##*:}M" "$m" \
    "$(echo "$aws_med / $m" | bc -l)" "${times[ferry-$s]% }"
done
echo "  load after: $(cut -d' ' -f1-3 /proc/loadavg)"
