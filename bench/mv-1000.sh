#!/usr/bin/env bash
# Rename a folder of 1,000 objects on S3: `ferry mv` vs `aws s3 mv --recursive`, same RGW, same run;
# then `ferry mv` killed with SIGKILL half-way and run again: no key lost, none left behind.
# Usage: RGW_BASE=/tmp/ferry-rgw-dev bash bench/mv-1000.sh [COUNT]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
COUNT=${1:-1000}
B=${BENCH_BUCKET:-bench-mv}  # a private bucket name keeps parallel runs apart
F=(node bin/ferry.js --endpoint "$S3_ENDPOINT")
A=(aws --endpoint-url "$S3_ENDPOINT")
keys() { "${A[@]}" s3 ls --recursive "s3://$B/$1/" | wc -l; }

for p in a b c d; do "${F[@]}" rm -r -f "s3://$B/$p"; done
npx tsx bench/seed-objects.ts $B a "$COUNT" 1024

t0=$(secs); "${F[@]}" mv "s3://$B/a" "s3://$B/b"; t1=$(secs)
printf 'ferry mv (folder of %d)          %6.2f s   keys: a=%s b=%s\n' "$COUNT" "$(echo "$t1 - $t0" | bc)" "$(keys a)" "$(keys b)"
t0=$(secs); "${A[@]}" s3 mv --recursive --only-show-errors "s3://$B/b/" "s3://$B/c/"; t1=$(secs)
printf 'aws s3 mv --recursive (%d)      %6.2f s   keys: b=%s c=%s\n' "$COUNT" "$(echo "$t1 - $t0" | bc)" "$(keys b)" "$(keys c)"

echo "interrupt: ferry mv c → d, SIGKILL after 1.5 s"
"${F[@]}" mv "s3://$B/c" "s3://$B/d" & pid=$!
sleep 1.5; kill -9 $pid 2>/dev/null || echo "(it had already finished)"; wait $pid 2>/dev/null || true
c=$(keys c); d=$(keys d)
echo "  after the kill: c=$c d=$d (d includes the journal .ferry-rename.json while unfinished)"
union=$( { "${A[@]}" s3 ls --recursive "s3://$B/c/"; "${A[@]}" s3 ls --recursive "s3://$B/d/"; } \
         | awk '{print $4}' | sed 's#^[cd]/##' | grep -v '^\.ferry-rename\.json$' | sort -u | wc -l)
echo "  distinct keys in c ∪ d: $union (expected $COUNT)"
t0=$(secs); "${F[@]}" mv "s3://$B/c" "s3://$B/d"; t1=$(secs)
printf '  re-run finished in %.2f s   keys: c=%s d=%s\n' "$(echo "$t1 - $t0" | bc)" "$(keys c)" "$(keys d)"
"${A[@]}" s3api head-object --bucket $B --key d/.ferry-rename.json >/dev/null 2>&1 && echo "  journal LEFT BEHIND" || echo "  journal removed"
