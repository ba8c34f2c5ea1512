#!/usr/bin/env bash
# Fails when internal/gen/ differs from what `npm run gen` makes of proto/.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r internal/gen "$tmp/before"
npx buf generate
if ! diff -r "$tmp/before" internal/gen >/dev/null; then
  diff -ru "$tmp/before" internal/gen | head -40 >&2
  echo "check:gen: internal/gen is stale: run 'npm run gen' and commit the result" >&2
  exit 1
fi
echo "check:gen: generated code is up to date"
