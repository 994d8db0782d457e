#!/usr/bin/env bash
# The test command: installs what the tests need (when missing), restores, builds and runs every test.
# Usage: eng/test.sh [extra dotnet test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the integration tests run against (real peers, not mocks).
need=()
command -v openssl >/dev/null 2>&1 || need+=(openssl)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need+=(nginx)
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing system packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
dotnet restore AgentIdentity.Sdk.sln
dotnet build AgentIdentity.Sdk.sln --no-restore -c Release
dotnet test AgentIdentity.Sdk.sln --no-build -c Release --logger "console;verbosity=normal" "$@" 2>&1 | tee artifacts/test-output.log
status=${PIPESTATUS[0]}

# One closing line that counts every test of every project.
passed=$(grep -oP '^\s*Passed:\s*\K[0-9]+' artifacts/test-output.log | paste -sd+ | bc 2>/dev/null || echo 0)
failed=$(grep -oP '^\s*Failed:\s*\K[0-9]+' artifacts/test-output.log | paste -sd+ | bc 2>/dev/null || echo 0)
echo "${passed:-0} passed, ${failed:-0} failed"
exit "$status"
