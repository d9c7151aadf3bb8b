# Sourced by the bench scripts: the RGW to measure against (started by scripts/rgw/start.sh;
# RGW_BASE points at it, default the test one), its environment, and a built CLI.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RGW_BASE=${RGW_BASE:-${TMPDIR:-/tmp}/ferry-test-rgw}
[ -f "$RGW_BASE/rgw.env" ] || { echo "no RGW at $RGW_BASE: start one with RGW_BASE=$RGW_BASE bash scripts/rgw/start.sh" >&2; exit 1; }
source "$RGW_BASE/rgw.env"
unset AWS_CA_BUNDLE
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
[ -f dist/cli/main.js ] || npx tsc -p tsconfig.build.json
secs() { date +%s.%N; }
