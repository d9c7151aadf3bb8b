#!/usr/bin/env bash
# The store's CPU per small PUT by request shape (bench/put-shapes.mjs), then the bucket deleted
# and RGW's gc run. Usage: RGW_BASE=/tmp/ferry-rgw-dev bash bench/put-shapes.sh [COUNT] [ROUNDS] [variant,…]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
export RGW_BASE
node bench/put-shapes.mjs "$@"
for b in $(aws --endpoint-url "$S3_ENDPOINT" s3 ls | awk '/bench-putshapes-/ { print $3 }'); do
  aws --endpoint-url "$S3_ENDPOINT" s3 rb --force "s3://$b" >/dev/null
done
radosgw-admin -c "$RGW_BASE/cluster/ceph.conf" gc process --include-all 2>/dev/null || true
