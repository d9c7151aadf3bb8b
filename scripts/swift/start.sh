#!/usr/bin/env bash
# Start a one-node OpenStack Swift (Debian bookworm 2.30.x) with the s3api + tempauth middleware
# on 127.0.0.1, everything under $SWIFT_S3_BASE: the second S3 implementation the storage and CLI
# tests run on (test/support/swift-setup.ts starts it; scripts/swift/stop.sh stops it).
# Idempotent: servers that are already running (by pid file) are left alone; configs are
# rewritten, rings built once (kept in $SWIFT_S3_BASE/etc, so a restart skips that).
#   S3 endpoint  http://127.0.0.1:18080  (path-style, region us-east-1, SigV2/SigV4; no STS)
#   access key   test:tester   secret  testing   (the key has a ':': URL-encode it in s3://KEY:SECRET@)
#   second identity test:tester2 / testing2 (see SWIFT_S3_ACL); another account: test2:tester2 / testing2
# Ports (none shared with the test RGW's 17480/17481/13300/16800-16899): proxy $SWIFT_S3_PORT
# (18080), object/container/account 16200/16201/16202, memcached 16211 (tempauth needs memcache,
# even for S3 requests).
# Env file for clients: $SWIFT_S3_BASE/swift.env.
# Adapted from ../shared/reference/s3-test-servers/start-swift.sh (measurements: docs/test-servers.md).
set -euo pipefail

BASE=${SWIFT_S3_BASE:-${TMPDIR:-/tmp}/ferry-test-swift}
AUTO_INSTALL=${SWIFT_S3_AUTO_INSTALL:-1}
PROXY_PORT=${SWIFT_S3_PORT:-18080}
OBJ_PORT=${SWIFT_S3_OBJECT_PORT:-16200}
CONT_PORT=${SWIFT_S3_CONTAINER_PORT:-16201}
ACCT_PORT=${SWIFT_S3_ACCOUNT_PORT:-16202}
MC_PORT=${SWIFT_S3_MEMCACHED_PORT:-16211}
# Swift's default [swift-constraints] allow metadata values of 256 bytes only and 4096 bytes in
# all; S3 allows 2 KiB of user metadata in all, in any split. Defaults here: S3's numbers.
# (Over the limit, s3api 2.30 answers 500 InternalError, not 400 MetadataTooLarge.)
META_VALUE_LEN=${SWIFT_S3_META_VALUE_LEN:-2048}
META_OVERALL=${SWIFT_S3_META_OVERALL:-2048}
# Swift keeps object metadata in one xattr; on ext4 (4 KiB block) ~4 KiB of it (key name +
# metadata + sysmeta) fails with ENOSPC -> 507 -> 503 SlowDown. SWIFT_S3_TMPFS=4g puts the device
# on a tmpfs instead (no such limit on Linux >= 6.6; data gone when unmounted: stop --wipe).
TMPFS=${SWIFT_S3_TMPFS:-}
# S3 ACLs kept and checked by s3api itself (s3_acl). On (default): test:tester2 (secret testing2)
# is a second S3 identity that owns nothing and is refused on test:tester's buckets, as a second
# RGW user is. Off: s3api fakes ACLs; test:tester2 is then a non-.admin tempauth user (refused
# everything, even CreateBucket). Switching needs fresh data (stop-swift.sh --wipe).
S3_ACL=${SWIFT_S3_ACL:-true}
if [ "$S3_ACL" = true ]; then TESTER2='testing2 .admin'; else TESTER2='testing2'; fi
ETC=$BASE/etc SRV=$BASE/srv RUN=$BASE/run LOG=$BASE/log
PY=/usr/bin/python3 # not the python3 on PATH (pyenv here): Swift lives in Debian's python
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
t0=$(date +%s.%N)

# ---- packages -------------------------------------------------------------------------------
pkgs=(swift-proxy swift-object swift-container swift-account python3-swift memcached curl)
missing=()
mkdir -p "$BASE"
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if ((${#missing[@]})); then
  [ "$AUTO_INSTALL" = 1 ] || { echo "Swift packages missing (apt-get install ${missing[*]})" >&2; exit 1; }
  echo "installing: ${missing[*]}"
  [ "$(id -u)" = 0 ] || { echo "need root to install ${missing[*]}" >&2; exit 1; }
  # policy-rc.d (exit 101) on this machine keeps the packages' systemd units from starting.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >"$BASE/apt.log" 2>&1 \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >"$BASE/apt.log" 2>&1; } \
    || { echo "apt-get install failed, see $BASE/apt.log" >&2; exit 1; }
fi

mkdir -p "$ETC" "$SRV" "$RUN" "$LOG"
if [ -n "$TMPFS" ] && ! mountpoint -q "$SRV"; then mount -t tmpfs -o "size=$TMPFS" swift-s3 "$SRV"; fi
mkdir -p "$SRV/d1"

# ---- configs (always rewritten) -------------------------------------------------------------
cat >"$ETC/swift.conf" <<EOF
[swift-hash]
swift_hash_path_suffix = ferry-swift-s3
swift_hash_path_prefix = ferry-swift-s3

[storage-policy:0]
name = Policy-0
default = yes

[swift-constraints]
max_meta_value_length = $META_VALUE_LEN
max_meta_overall_size = $META_OVERALL
EOF

backend_conf() { # NAME PORT EGG EXTRA_APP_LINES
  cat >"$ETC/$1-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $2
workers = 0
user = root
swift_dir = $ETC
devices = $SRV
mount_check = false
disable_fallocate = true
log_name = $1-server
recon_cache_path = $RUN

[pipeline:main]
pipeline = healthcheck $1-server

[filter:healthcheck]
use = egg:swift#healthcheck

[app:$1-server]
use = egg:swift#$3
$4
EOF
}
backend_conf object "$OBJ_PORT" object $'container_update_timeout = 10\nnode_timeout = 10'
backend_conf container "$CONT_PORT" container ''
backend_conf account "$ACCT_PORT" account ''

cat >"$ETC/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $PROXY_PORT
workers = 0
user = root
swift_dir = $ETC
log_name = proxy-server

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo versioned_writes symlink proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
node_timeout = 30
recoverable_node_timeout = 30
conn_timeout = 2
# One node only: never "error-limit" it (by default one 507, or 10 errors, make the proxy skip
# the node for 60 s, i.e. every object request answers 503 SlowDown for a minute).
error_suppression_interval = 0

[filter:s3api]
use = egg:swift#s3api
location = us-east-1
# S3 allows part numbers up to 10,000 (Swift's default: 1,000; needs slo max_manifest_segments)
max_upload_part_num = 10000
s3_acl = $S3_ACL

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
user_test_tester2 = $TESTER2
user_test2_tester2 = testing2 .admin

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$MC_PORT

[filter:slo]
use = egg:swift#slo
max_manifest_segments = 10000

[filter:versioned_writes]
use = egg:swift#versioned_writes
allow_versioned_writes = true
allow_object_versioning = true

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
[filter:dlo]
use = egg:swift#dlo
[filter:symlink]
use = egg:swift#symlink
EOF

# ---- rings (1 replica, one device d1 = $SRV/d1); rebuilt when the ports change ----------------
stamp="$OBJ_PORT $CONT_PORT $ACCT_PORT"
if [ "$(cat "$ETC/rings.stamp" 2>/dev/null)" != "$stamp" ] || [ ! -f "$ETC/account.ring.gz" ]; then
  # One Python process for the three rings (swift-ring-builder would start nine).
  "$PY" "$HERE/make-rings.py" "$ETC" "object:$OBJ_PORT" "container:$CONT_PORT" "account:$ACCT_PORT"
  echo "$stamp" >"$ETC/rings.stamp"
fi

# ---- processes --------------------------------------------------------------------------------
running() { local f=$RUN/$1.pid; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }
port_busy() { ss -Hltn "sport = :$1" | grep -q .; }
start_one() { # NAME PORT CMD...
  local name=$1 port=$2; shift 2
  if running "$name"; then echo "$name already running (pid $(cat "$RUN/$name.pid"))"; return; fi
  if port_busy "$port"; then echo "port $port (for $name) is taken by another process" >&2; exit 1; fi
  # Not a process-group leader (no job control), so setsid execs in place and $! is the server.
  SWIFT_DIR=$ETC setsid "$@" >>"$LOG/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}
# Refuse before starting anything if a port we need is held by someone else.
for s in memcached:$MC_PORT account:$ACCT_PORT container:$CONT_PORT object:$OBJ_PORT proxy:$PROXY_PORT; do
  if ! running "${s%%:*}" && port_busy "${s##*:}"; then echo "port ${s##*:} (for ${s%%:*}) is taken by another process" >&2; exit 1; fi
done
start_one memcached "$MC_PORT" memcached -l 127.0.0.1 -p "$MC_PORT" -U 0 -m 64 -c 1024 -u root
for s in account:$ACCT_PORT container:$CONT_PORT object:$OBJ_PORT proxy:$PROXY_PORT; do
  start_one "${s%%:*}" "${s##*:}" "$PY" "$HERE/swift-run.py" "${s%%:*}-server" "$ETC/${s%%:*}-server.conf"
done

# ---- wait until every server answers (and tempauth + memcache work) --------------------------
for s in account:$ACCT_PORT container:$CONT_PORT object:$OBJ_PORT proxy:$PROXY_PORT; do
  for i in $(seq 1 150); do
    [ "$(curl -s -m 2 "http://127.0.0.1:${s##*:}/healthcheck" || true)" = OK ] && break
    running "${s%%:*}" || { echo "${s%%:*} server died; last lines of $LOG/${s%%:*}.log:" >&2; tail -20 "$LOG/${s%%:*}.log" >&2; exit 1; }
    [ "$i" = 150 ] && { echo "${s%%:*} server not answering on ${s##*:} after 30 s" >&2; exit 1; }
    sleep 0.2
  done
done
for i in $(seq 1 50); do
  tok=$(curl -s -m 5 -o /dev/null -D - -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' \
    "http://127.0.0.1:$PROXY_PORT/auth/v1.0" | tr -d '\r' | sed -n 's/^[Xx]-[Aa]uth-[Tt]oken: //p')
  [ -n "$tok" ] && [[ "$(curl -s -m 5 -I -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $tok" \
    "http://127.0.0.1:$PROXY_PORT/v1/AUTH_test")" = 2* ]] && break
  [ "$i" = 50 ] && { echo "tempauth/account check failed; see $LOG/proxy.log" >&2; exit 1; }
  sleep 0.2
done

cat >"$BASE/swift.env" <<EOF
S3_ENDPOINT='http://127.0.0.1:$PROXY_PORT'
AWS_ACCESS_KEY_ID='test:tester'
AWS_SECRET_ACCESS_KEY='testing'
AWS_DEFAULT_REGION='us-east-1'
FERRY_TEST_S3_ENDPOINT='http://127.0.0.1:$PROXY_PORT'
FERRY_TEST_S3_ACCESS_KEY='test:tester'
FERRY_TEST_S3_SECRET_KEY='testing'
AWS_ACCESS_KEY_ID_2='test:tester2'
AWS_SECRET_ACCESS_KEY_2='testing2'
EOF
printf 'Swift S3 ready at http://127.0.0.1:%s (key test:tester, secret testing) in %.1f s; env in %s\n' \
  "$PROXY_PORT" "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')" "$BASE/swift.env"
