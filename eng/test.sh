#!/usr/bin/env bash
# The test command: installs what the tests need (when missing), restores, builds and runs every test.
# Usage: eng/test.sh [extra dotnet test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the integration tests run against (real peers, not mocks).
need=()
command -v openssl >/dev/null 2>&1 || need+=(openssl)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need+=(nginx)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)   # the audit explorer's browser tests (headless, over DevTools)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)   # the Workload API attestation tests compile a connect-then-exec C harness
command -v unshare >/dev/null 2>&1 || need+=(util-linux)  # ... and run it in a private mount namespace (unshare -m, as root)
command -v node >/dev/null 2>&1 || need+=(nodejs)         # interop peers nobody here wrote (npm packages in tests/interop)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing system packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The npm interop peers, pinned by tests/interop/package-lock.json; installed once, nothing fetched at test time.
if [ ! -d tests/interop/node_modules ] || [ tests/interop/package-lock.json -nt tests/interop/node_modules ]; then
  echo "Installing the npm interop peers (npm ci in tests/interop)"
  (cd tests/interop && npm ci --ignore-scripts --no-audit --no-fund >/dev/null && touch node_modules)
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
dotnet restore AgentIdentity.Sdk.sln
dotnet build AgentIdentity.Sdk.sln --no-restore -c Release
mkdir -p artifacts
set +e
dotnet test AgentIdentity.Sdk.sln --no-build -c Release --blame-hang-timeout 10m --blame-hang-dump-type none "$@" 2>&1 | tee artifacts/test-output.log
status=${PIPESTATUS[0]}
set -e

# One closing line that counts every test of every project ("Passed!  - Failed: 0, Passed: 54, ...").
totals=$(grep -E '^(Passed|Failed)!' artifacts/test-output.log | awk -F'[:,]' '{f+=$2; p+=$4} END {printf "%d passed, %d failed", p, f}')
echo "${totals:-0 passed, 0 failed}"
if [ "$status" -eq 0 ] && ! grep -qE '^(Passed|Failed)!' artifacts/test-output.log; then
  echo "no test ran" >&2
  exit 1
fi
exit "$status"
