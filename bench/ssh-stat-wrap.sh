#!/bin/bash
# BENCH_CLIENT_WRAP for bench/sftp.ts and bench/sftp-get-cpu.ts (bench/ssh-lib.ts `sftpBatch`):
# runs `sftp` as asked and, for a batch that gets, has sftp run its ssh under `perf stat` (ssh's
# CPU, context switches and read/write/poll syscalls, without strace's slowing), one file per get
# in ${SSH_STAT_DIR:-/tmp/ssh-stat}. Per MiB, these tell how often ssh wakes for the server's data.
#   BENCH_CLIENT_WRAP=$PWD/bench/ssh-stat-wrap.sh BENCH_TRANSFER_ONLY=1 npx tsx bench/sftp.ts 1
if [ "$1" = sftp ]; then
  shift
  batch="${*: -2:1}"
  if grep -q '^get' "$batch"; then exec sftp -S "$0" "$@"; fi
  exec sftp "$@"
fi
dir=${SSH_STAT_DIR:-/tmp/ssh-stat}
mkdir -p "$dir"
exec perf stat -x, -o "$dir/ssh-$(date +%s%N).txt" \
  -e task-clock,context-switches,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_poll \
  -- ssh "$@"
