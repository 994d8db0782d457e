#!/usr/bin/env bash
# Two issuer replicas against one PostgreSQL database (the production shape, on one machine).
#   ISSUER_PG="Host=db;Database=agent_identity;Username=issuer;Password=..." AGENTIDENTITY_ISSUER_KEK=... ./run-two-replicas.sh
# Each replica is the same program with another name; both read appsettings.json, overridden by the environment
# (Issuer__PostgreSql, Replicas__A__Url, ...). Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")"
: "${ISSUER_PG:?set ISSUER_PG to the Npgsql connection string of the shared database}"
: "${AGENTIDENTITY_ISSUER_KEK:?set AGENTIDENTITY_ISSUER_KEK (the same key-encryption key on every replica)}"
export Issuer__PostgreSql="$ISSUER_PG"
run() { if [ -f IssuerReplicas.dll ]; then dotnet IssuerReplicas.dll "$@"; else dotnet run --no-launch-profile -c Release -- "$@"; fi; }
run replica A & a=$!
run replica B & b=$!
trap 'kill $a $b 2>/dev/null; wait' INT TERM EXIT
wait -n
