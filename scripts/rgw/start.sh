#!/usr/bin/env bash
# Start a throw-away single-node Ceph cluster (1 mon, 1 OSD, optional mgr) plus
# radosgw (S3) bound to 127.0.0.1, for integration tests.
#
# Idempotent: if the daemons started by this script are already up, it only
# prints the connection info (RGW_FRESH=1 forces a rebuild). Otherwise it stops
# leftovers (by PID file), wipes the old cluster dir and builds a fresh one.
# Needs: Debian bookworm ceph 16.2 packages (auto-installed), curl >= 7.75, python3.
#
# Env knobs (all optional):
#   RGW_BASE=<tmpdir>/rgw      where cluster/, the conf and logs live
#   RGW_PORT=7480              S3 endpoint port (127.0.0.1 only), STS engine off
#                              (=> AWS-accurate SignatureDoesNotMatch/InvalidAccessKeyId)
#   RGW_STS_PORT=7481          2nd gateway with STS temp-credential auth on
#                              (auth errors all become AccessDenied there); 0 = none
#   RGW_MON_PORT=3300          msgr2 port of the mon (msgr1 = RGW_MON_PORT+1)
#   RGW_OSD_PORT_MIN=6800      OSD/mgr ports are taken from [min, min+99]
#   RGW_ACCESS_KEY / RGW_SECRET_KEY   credentials of user "test"
#   RGW_OBJECTSTORE=bluestore  bluestore (sparse file under RGW_BASE, O_DIRECT: not on
#                              tmpfs) | memstore (all data in OSD RAM, ~2-6x the bytes stored)
#   RGW_BLUESTORE_SIZE=20G     size of the sparse bluestore block file
#   RGW_LC_DEBUG_INTERVAL=     e.g. 10 -> lifecycle "1 day" = 10 s (lc tests)
#   RGW_FRESH=0                1 = rebuild even if already running
#   RGW_WITH_MGR=0             1 = also start ceph-mgr (only for `ceph -s` stats)
#   RGW_AUTO_INSTALL=1         apt-get install the Ceph packages if missing
set -euo pipefail

BASE=${RGW_BASE:-$(dirname "$(mktemp -u)")/rgw}
PORT=${RGW_PORT:-7480}
STS_PORT=${RGW_STS_PORT:-7481}
MON_PORT=${RGW_MON_PORT:-3300}
MON_PORT1=$((MON_PORT + 1))
OSD_PORT_MIN=${RGW_OSD_PORT_MIN:-6800}
OSD_PORT_MAX=$((OSD_PORT_MIN + 99))
AK=${RGW_ACCESS_KEY:-AKIAIOSFODNN7EXAMPLE}
SK=${RGW_SECRET_KEY:-wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY}
STORE=${RGW_OBJECTSTORE:-bluestore}
BS_SIZE=${RGW_BLUESTORE_SIZE:-20G}
WITH_MGR=${RGW_WITH_MGR:-0}
AUTO_INSTALL=${RGW_AUTO_INSTALL:-1}
LC_DEBUG=${RGW_LC_DEBUG_INTERVAL:-}
FRESH=${RGW_FRESH:-0}

C=$BASE/cluster            # everything that gets wiped
CONF=$C/ceph.conf
RUN=$C/run
LOG=$C/log
DATA=$C/data
ENDPOINT=http://127.0.0.1:$PORT
STS_ENDPOINT=http://127.0.0.1:$STS_PORT
GWS="a"; [ "$STS_PORT" != 0 ] && GWS="a sts"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
T0=$(now_ms)
ts() { local d=$(( $(now_ms) - T0 )); printf '[%3d.%03ds] %s\n' $((d / 1000)) $((d % 1000)) "$*"; }
die() { echo "start-rgw: ERROR: $*" >&2; exit 1; }

pid_alive() { # pidfile binary
  local p
  [ -f "$1" ] || return 1
  p=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$p" ] && [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- "$2" \
    && tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- "$CONF"
}

print_info() {
  cat <<EOF
RGW S3 endpoint : $ENDPOINT   (path-style only, region us-east-1 works)
STS endpoint    : $( [ "$STS_PORT" != 0 ] && echo "$STS_ENDPOINT   (S3+STS+IAM; AssumeRole arn:aws:iam:::role/S3Access)" || echo none)
access key      : $AK
secret key      : $SK
ceph conf       : $CONF   (e.g. radosgw-admin -c $CONF user list)
env file        : $BASE/rgw.env   (source it for AWS_* variables)
logs            : $LOG
EOF
}

# ---------------------------------------------------------------- packages
if ! command -v radosgw >/dev/null || ! command -v ceph-osd >/dev/null || ! command -v ceph-mon >/dev/null; then
  [ "$AUTO_INSTALL" = 1 ] || die "Ceph packages missing (apt-get install ceph-mon ceph-osd radosgw ceph-common)"
  [ "$(id -u)" = 0 ] || die "Ceph packages missing and not root"
  ts "installing ceph-mon ceph-osd radosgw ceph-common (~64 MB)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  pk="ceph-mon ceph-osd radosgw ceph-common"
  [ "$WITH_MGR" = 1 ] && pk="$pk ceph-mgr"
  apt-get install -y -qq --no-install-recommends $pk >/dev/null
  ts "packages installed"
fi

# ---------------------------------------------------------------- already up?
gws_alive() { for g in $GWS; do pid_alive "$RUN/ceph-client.rgw.$g.pid" radosgw || return 1; done; }
if [ "$FRESH" != 1 ] && gws_alive && pid_alive "$RUN/ceph-osd.0.pid" ceph-osd \
   && pid_alive "$RUN/ceph-mon.a.pid" ceph-mon && curl -s -o /dev/null "$ENDPOINT/"; then
  ts "already running"
  print_info
  exit 0
fi

# leftovers from an earlier (half) start: stop them by PID, then wipe
RGW_BASE=$BASE "$HERE/stop.sh" >/dev/null 2>&1 || true
for p in $PORT $STS_PORT $MON_PORT $MON_PORT1; do
  [ "$p" = 0 ] && continue
  if (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then die "127.0.0.1:$p is already in use by someone else"; fi
done
rm -rf "$C"
mkdir -p "$RUN" "$LOG" "$DATA/mon.a" "$DATA/osd.0"
if [ "$STORE" = bluestore ] && [ "$(stat -f -c %T "$C")" = tmpfs ]; then
  echo "start-rgw: $C is on tmpfs (no O_DIRECT) -> using memstore instead of bluestore" >&2
  STORE=memstore
fi

FSID=$(cat /proc/sys/kernel/random/uuid)
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
# rgw_sts_key must be exactly 16 chars (AES-128 key for session tokens)
STS_KEY=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')

if [ "$STORE" = bluestore ]; then
  OSD_STORE_CONF="osd objectstore = bluestore
bluestore block path = $DATA/osd.0/block.file
bluestore block create = true
bluestore block size = $(numfmt --from=iec "$BS_SIZE")
bluestore block db create = false
bluestore block wal create = false
bluestore fsck on mkfs = false
osd memory target = 1073741824
bdev enable discard = false
# every bdev close waits one aio poll period (250ms) and the OSD opens the
# device once per op shard during start -> short poll (saves ~3s of startup)
bdev aio poll ms = 20"
else
  OSD_STORE_CONF="osd objectstore = memstore
memstore device bytes = 17179869184"
fi

cat >"$CONF" <<EOF
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_PORT1]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind port min = $OSD_PORT_MIN
ms bind port max = $OSD_PORT_MAX
# no cephx: a throw-away loopback cluster. With auth=none the client must be
# allowed "crc" mode towards the mon or radosgw hangs (get_initial_auth_request -13).
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc secure
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon allow pool delete = true
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
osd crush chooseleaf type = 0
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
mon data avail warn = 2
mon data avail crit = 1
# faster map updates (default 1s batching): speeds up osd boot and pool creation
paxos propose interval = 0.05
paxos min wait = 0.01
run dir = $RUN
admin socket = $RUN/\$cluster-\$name.asok
pid file = $RUN/\$cluster-\$name.pid
log file = $LOG/\$cluster-\$name.log
crash dir = $C/crash
[mon]
mon data = $DATA/mon.\$id
mon cluster log file = $LOG/cluster.log
[mgr]
mgr data = $DATA/mgr.\$id
[osd]
osd data = $DATA/osd.\$id
osd op num shards = 2
osd op num threads per shard = 2
$OSD_STORE_CONF
[client]
rgw sts key = $STS_KEY
rgw crypt require ssl = false
rgw enable usage log = true
# overwritten/deleted data is garbage-collected after 2h by default; with
# memstore that is RAM, so collect quickly
rgw gc obj min wait = 30
rgw gc processor period = 30
$( [ -n "$LC_DEBUG" ] && echo "rgw lc debug interval = $LC_DEBUG" )
[client.rgw.a]
rgw data = $DATA/rgw.a
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw s3 auth use sts = false
[client.rgw.sts]
rgw data = $DATA/rgw.sts
rgw frontends = beast endpoint=127.0.0.1:$STS_PORT
rgw s3 auth use sts = true
EOF

cat >"$BASE/rgw.env" <<EOF
export AWS_ACCESS_KEY_ID='$AK'
export AWS_SECRET_ACCESS_KEY='$SK'
export AWS_DEFAULT_REGION=us-east-1
export AWS_REGION=us-east-1
export S3_ENDPOINT=$ENDPOINT
export AWS_ENDPOINT_URL=$ENDPOINT
export S3_STS_ENDPOINT=$STS_ENDPOINT
export CEPH_CONF=$CONF
EOF

ts "config written ($STORE)"

# ---------------------------------------------------------------- mon
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_PORT1]" "$RUN/monmap" >/dev/null
ceph-mon -c "$CONF" --mkfs -i a --monmap "$RUN/monmap" 2>>"$LOG/mkfs.log"
ceph-mon -c "$CONF" -i a
CEPH="ceph -c $CONF --connect-timeout 30"
$CEPH mon stat >/dev/null || die "mon did not come up, see $LOG/ceph-mon.a.log"
ts "mon up"

# ---------------------------------------------------------------- mgr (optional)
if [ "$WITH_MGR" = 1 ]; then
  mkdir -p "$DATA/mgr.a"
  ceph-mgr -c "$CONF" -i a
  ts "mgr started"
fi

# ---------------------------------------------------------------- osd
OSD_ID=$($CEPH osd new "$OSD_UUID")
[ "$OSD_ID" = 0 ] || die "unexpected osd id $OSD_ID"
ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" >>"$LOG/mkfs.log" 2>&1 || die "osd mkfs failed, see $LOG/mkfs.log"
ceph-osd -c "$CONF" -i 0 2>>"$LOG/mkfs.log"
for i in $(seq 1 120); do
  [ "$($CEPH osd stat -f json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["num_up_osds"])' 2>/dev/null)" = 1 ] && break
  [ "$i" = 120 ] && die "osd.0 not up after 60s, see $LOG/ceph-osd.0.log"
  sleep 0.5
done
ts "osd up"

# ---------------------------------------------------------------- rgw
# (rgw creates its pools itself via librados; pre-creating them with the
# python `ceph` CLI was ~2s slower)

for g in $GWS; do mkdir -p "$DATA/rgw.$g"; radosgw -c "$CONF" -n client.rgw.$g 2>>"$LOG/mkfs.log"; done
for i in $(seq 1 240); do
  curl -s -o /dev/null "$ENDPOINT/" && { [ "$STS_PORT" = 0 ] || curl -s -o /dev/null "$STS_ENDPOINT/"; } && break
  [ "$i" = 240 ] && die "radosgw not answering after 60s, see $LOG/ceph-client.rgw.*.log"
  sleep 0.25
done
ts "radosgw answering on $ENDPOINT $( [ "$STS_PORT" != 0 ] && echo "and $STS_ENDPOINT")"

# ---------------------------------------------------------------- user + STS role
RA="radosgw-admin -c $CONF"
$RA user create --uid=test --display-name="test user" --access-key="$AK" --secret-key="$SK" >/dev/null
# caps so the user may call IAM CreateRole/PutRolePolicy etc. through the API
$RA caps add --uid=test --caps="roles=*;users=*;user-policy=*;buckets=*;metadata=*;usage=*" >/dev/null
# a second user (e.g. for cross-account / ACL tests)
$RA user create --uid=test2 --display-name="test user 2" --access-key="${AK}2" --secret-key="${SK}2" >/dev/null
# a role that user "test" may assume with STS AssumeRole (full S3 access)
$RA role create --role-name=S3Access --path=/ \
  --assume-role-policy-doc='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam:::user/test"]},"Action":["sts:AssumeRole"]}]}' >/dev/null
$RA role-policy put --role-name=S3Access --policy-name=AllowS3 \
  --policy-doc='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::*"]}]}' >/dev/null
# STS GetSessionToken needs an identity policy allowing it (IAM PutUserPolicy,
# no radosgw-admin command for that in Pacific) -> signed with curl --aws-sigv4
curl -sf --aws-sigv4 "aws:amz:us-east-1:iam" --user "$AK:$SK" -X POST "$ENDPOINT/" \
  --data-urlencode Action=PutUserPolicy --data-urlencode Version=2010-05-08 \
  --data-urlencode UserName=test --data-urlencode PolicyName=AllowGetSessionToken \
  --data-urlencode 'PolicyDocument={"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:GetSessionToken"],"Resource":["*"]}]}' \
  >/dev/null || die "PutUserPolicy failed"
echo "export RGW_ROLE_ARN=arn:aws:iam:::role/S3Access" >>"$BASE/rgw.env"
echo "export AWS_ACCESS_KEY_ID_2='${AK}2' AWS_SECRET_ACCESS_KEY_2='${SK}2'" >>"$BASE/rgw.env"
ts "users test/test2 and role S3Access created"
print_info
