#!/usr/bin/env bash
# Rewrites a project's PublicAPI.Unshipped.txt from what the project declares today (after a move or an internalization).
# Usage: eng/regen-public-api.sh src/AgentIdentity.Sdk [src/...]
set -euo pipefail
for project_dir in "$@"; do
  printf '#nullable enable\n' > "$project_dir/PublicAPI.Unshipped.txt"
  bash "$(dirname "$0")/update-public-api.sh" "$project_dir"
done
