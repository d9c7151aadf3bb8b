#!/usr/bin/env bash
# kill -9 in the middle of a big upload, then run the same `ferry cp` again:
# shows that no object appears, what `ferry uploads ls` sees, how many bytes the rerun re-sent,
# and that nothing is left afterwards.
#
#   S3_ENDPOINT=http://127.0.0.1:7480 AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… bash bench/kill-resume.sh
#
# SIZE_MIB (1024), KILL_AFTER_MIB (300: kill once this much is in S3, per `ferry uploads ls`).
set -euo pipefail
cd "$(dirname "$0")/.."
unset AWS_CA_BUNDLE
: "${S3_ENDPOINT:?set S3_ENDPOINT}" "${AWS_ACCESS_KEY_ID:?}" "${AWS_SECRET_ACCESS_KEY:?}"
export AWS_REGION=${AWS_REGION:-us-east-1} AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
SIZE_MIB=${SIZE_MIB:-1024} KILL_AFTER_MIB=${KILL_AFTER_MIB:-300}
work=$(mktemp -d /tmp/ferry-kill.XXXXXX)
export FERRY_STATE_DIR=$work/state
bucket=ferry-kill-$(date +%s)-$$
dest=s3://$bucket/big.bin
ferry() { node bin/ferry.js --endpoint "$S3_ENDPOINT" "$@"; }
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
aws --endpoint-url "$S3_ENDPOINT" s3 mb "s3://$bucket" >/dev/null
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom >"$work/big.bin"

echo "== ferry cp of ${SIZE_MIB} MiB, kill -9 once ${KILL_AFTER_MIB} MiB are in S3"
# node itself in the background (not a shell function: a subshell would take the SIGKILL)
node bin/ferry.js --endpoint "$S3_ENDPOINT" cp --no-progress "$work/big.bin" "$dest" &
pid=$!
while :; do
  bytes=$(ferry uploads ls "s3://$bucket/" --json 2>/dev/null | sed -n 's/.*"bytes":\([0-9]*\).*/\1/p' | head -1)
  if [[ -n $bytes && $bytes -ge $((KILL_AFTER_MIB * 1024 * 1024)) ]]; then break; fi
  kill -0 $pid 2>/dev/null || { echo "finished before the kill: raise SIZE_MIB"; exit 1; }
  sleep 0.1
done
kill -9 $pid
wait $pid 2>/dev/null || true
echo "-- killed; object present?"
if aws --endpoint-url "$S3_ENDPOINT" s3api head-object --bucket "$bucket" --key big.bin >/dev/null 2>&1; then
  echo "  YES (wrong)"
else
  echo "  no object"
fi
echo "-- ferry uploads ls"
ferry uploads ls "s3://$bucket/" 2>&1 | sed 's/^/  /'
echo "-- same ferry cp again"
t0=$(date +%s.%N)
ferry cp --no-progress "$work/big.bin" "$dest" 2>&1 | sed 's/^/  /'
t1=$(date +%s.%N)
printf '  rerun took %.2f s\n' "$(echo "$t1 - $t0" | bc -l)"
echo "-- verify and look for leftovers"
ferry cp --no-progress --verify "$dest" "$work/back.bin" 2>&1 | sed 's/^/  /'
cmp -s "$work/big.bin" "$work/back.bin" && echo "  downloaded copy identical"
left=$(ferry uploads ls "s3://$bucket/" --json | wc -l)
echo "  ferry uploads ls afterwards: $left unfinished upload(s)"
