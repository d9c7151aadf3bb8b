#!/usr/bin/env bash
# Stop the Swift started by start.sh: each server by the pid in $SWIFT_S3_BASE/run/*.pid, and only
# if that pid is still our process (its command line names swift-run.py or memcached), TERM then
# KILL after 10 s. Then the stored objects are deleted (a test store; the configs, rings and logs
# stay, so the next start is a fast one). --keep-data keeps the objects; --wipe deletes everything
# but the configs and rings.
set -uo pipefail
BASE=${SWIFT_S3_BASE:-${TMPDIR:-/tmp}/ferry-test-swift}
RUN=$BASE/run
for name in proxy object container account memcached; do
  f=$RUN/$name.pid
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -e "swift-run.py $name-server" -e '^memcached '; then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { echo "$name (pid $pid) ignored TERM, killing"; kill -KILL "$pid"; }
    echo "stopped $name (pid $pid)"
  fi
  rm -f "$f"
done
case "${1:-}" in
  --keep-data) ;;
  --wipe)
    mountpoint -q "$BASE/srv" && umount "$BASE/srv"
    rm -rf "$BASE/srv" "$BASE/log" "$BASE/swift.env"
    echo "wiped $BASE/srv" ;;
  *)
    if mountpoint -q "$BASE/srv"; then rm -rf "${BASE:?}/srv/"*; else rm -rf "$BASE/srv"; fi ;;
esac
exit 0
