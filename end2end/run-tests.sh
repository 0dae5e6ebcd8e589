#!/usr/bin/env bash
# Waits for the Natter server at $NATTER_URL (default http://127.0.0.1:3000),
# then runs the Playwright suite. Used by `cargo leptos end-to-end` (which
# starts the server but does not wait for it) and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")"
url="${NATTER_URL:-http://127.0.0.1:3000}"
for _ in $(seq 1 120); do
  if curl -fsS "$url/healthz" >/dev/null 2>&1; then
    exec npx playwright test "$@"
  fi
  sleep 0.5
done
echo "run-tests.sh: no Natter server answered at $url/healthz within 60 s" >&2
exit 1
