#!/usr/bin/env bash
# Adds every undeclared public symbol (RS0016) of a project to its PublicAPI.Unshipped.txt.
# Usage: eng/update-public-api.sh src/AgentIdentity.Sdk
set -euo pipefail
project_dir=${1:?project directory}
unshipped="$project_dir/PublicAPI.Unshipped.txt"
out=$(dotnet build "$project_dir" --no-incremental -p:TreatWarningsAsErrors=false 2>&1 || true)
symbols=$(printf '%s\n' "$out" | grep -oP "RS0016: Symbol '\K.*(?=' is not part of the declared public API)" | sort -u || true)
[ -z "$symbols" ] && { echo "no undeclared symbols"; exit 0; }
{ tail -n +2 "$unshipped"; printf '%s\n' "$symbols"; } | sed '/^$/d' | sort -u > "$unshipped.tmp"
{ echo '#nullable enable'; cat "$unshipped.tmp"; } > "$unshipped"
rm "$unshipped.tmp"
echo "added $(printf '%s\n' "$symbols" | wc -l) symbols to $unshipped"
