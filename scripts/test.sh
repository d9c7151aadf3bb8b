#!/usr/bin/env bash
# The one test command (npm test; .ci/run calls it): lint + format check, type check, build,
# then every test tier against real parts. The test S3 servers — Ceph RGW for every test, and
# OpenStack Swift's s3api for the storage and CLI tests again (a second S3 implementation) — are
# installed from Debian's packages if missing and started by the test run itself
# (test/support/global-setup.ts, swift-setup.ts); set FERRY_TEST_S3_ENDPOINT (+ _ACCESS_KEY,
# _SECRET_KEY) to use another S3 endpoint instead of RGW.
set -euo pipefail
cd "$(dirname "$0")/.."

# Tools the tests drive, from Debian's packages (root on these machines; say so otherwise).
need_pkgs=()
command -v radosgw >/dev/null || need_pkgs+=(ceph-mon ceph-osd radosgw ceph-common)
command -v rclone >/dev/null || need_pkgs+=(rclone)
[ -z "${FERRY_TEST_S3_ENDPOINT:-}" ] || need_pkgs=()
# PostgreSQL for the store's multi-node tests (test/support/postgres-setup.ts starts a throw-away cluster).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_pkgs+=(postgresql)
# Swift runs from Debian's python3 (/usr/bin/python3), with memcached for tempauth.
for p in swift-proxy swift-object swift-container swift-account python3-swift memcached; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "test.sh: missing Debian packages: ${need_pkgs[*]} (install them as root)" >&2; exit 1; fi
  echo "test.sh: installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
command -v aws >/dev/null || { echo "test.sh: the aws CLI is missing (it is part of the machine image)" >&2; exit 1; }
command -v moto_server >/dev/null || [ -n "${MOTO_SERVER:-}" ] || {
  echo "test.sh: moto_server is missing (part of the machine image's Python; or set MOTO_SERVER=/path)" >&2; exit 1; }

[ -d node_modules ] || npm ci --no-audit --no-fund

echo "== lint and format (biome)"
npx biome check .
echo "== type check"
npx tsc -p tsconfig.json --noEmit
echo "== build"
npx tsc -p tsconfig.build.json

echo "== tests"
# Tests set the AWS environment they need; the machine's may point elsewhere.
unset AWS_CA_BUNDLE AWS_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3
report=$(mktemp)
status=0
FERRY_TEST_SKIP_BUILD=1 npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
# A plain closing line any CI reader understands.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""));
  if (r.numTotalTests === 0) process.exit(1);
' "$report" || status=1
rm -f "$report"
exit $status
