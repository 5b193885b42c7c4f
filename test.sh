#!/usr/bin/env bash
# Runs every test of AccountsPortal. On a fresh Debian machine with the .NET SDK it first installs
# what the tests need: Debian's Chromium for the browser tests (Playwright never downloads one) and
# Debian's PostgreSQL server for the PostgreSQL tests, then starts a throwaway cluster on a free
# loopback port in a temporary folder (scripts/postgres-test-cluster.sh) and stops it at the end.
set -euo pipefail
cd "$(dirname "$0")"

sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
missing=()
if [ ! -x /usr/bin/chromium ]; then missing+=(chromium); fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then missing+=(postgresql); fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing Debian's ${missing[*]} for the tests..."
    $sudo_cmd apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y "${missing[@]}"
fi

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export DOTNET_CLI_TELEMETRY_OPTOUT=1
export DOTNET_NOLOGO=1

log=$(mktemp)
cluster_root=$(mktemp -d)
cleanup() {
    scripts/postgres-test-cluster.sh stop "$cluster_root/cluster" || true
    rm -rf "$cluster_root" "$log"
}
trap cleanup EXIT
PORTAL_TEST_POSTGRES=$(scripts/postgres-test-cluster.sh start "$cluster_root/cluster")
export PORTAL_TEST_POSTGRES
echo "PostgreSQL test cluster: $PORTAL_TEST_POSTGRES"
status=0
# A test that hangs (no test waits anywhere near 15 minutes) fails the run with its name instead of running into CI's limit.
dotnet test AccountsPortal.sln --logger "console;verbosity=normal" --blame-hang-timeout 15m --blame-hang-dump-type none 2>&1 | tee "$log" || status=$?

# The names of failed tests again at the end, where a CI log's tail shows them.
failed=$(grep -E '^\s+Failed [A-Za-z]' "$log" | sed -E 's/^\s+//' || true)
if [ -n "$failed" ]; then
    # Each failure's message (up to its stack trace, at most 12 lines), then the names alone.
    echo "Why they failed:"
    awk '/^[[:space:]]+Failed [A-Za-z]/ { n = 13 } /^[[:space:]]+Stack Trace:/ { n = 0 } n > 0 { print; n-- }' "$log" || true
    echo "Failed tests:"
    echo "$failed"
fi

# One plain summary line over every test project: "N passed, N failed, N skipped".
summary=$(grep -E '^\s+(Passed|Failed|Skipped): *[0-9]+\s*$' "$log" \
    | awk '{ n[$1] += $2 } END { if (length(n)) printf "%d passed, %d failed, %d skipped", n["Passed:"], n["Failed:"], n["Skipped:"] }' || true)
if [ -n "$summary" ]; then
    echo "$summary"
elif [ "$status" -eq 0 ]; then
    echo "No test summary found in the output." >&2
    status=1
fi
exit "$status"
