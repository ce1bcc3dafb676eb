#!/usr/bin/env bash
# What the tests need from Debian besides the venv, checked before anything slow runs:
# prometheus (promtool for the alert rules, a server for the scrape test), chromium (the
# widget's browser tests), chromium-headless-shell (driven by Playwright in the dashboard's
# browser tests), nodejs (runs the README's Node webhook verification code) and redis-server
# (the tests start their own, on a free port, for the shared rate limiter). As root it
# installs what is missing; anyone else gets the command to run.
set -euo pipefail

PACKAGES=(prometheus chromium chromium-headless-shell nodejs redis-server)
HEADLESS_SHELL=/usr/lib/chromium/chromium-headless-shell

missing() {
  local tool
  for tool in promtool prometheus chromium node redis-server; do
    command -v "$tool" >/dev/null 2>&1 || echo "$tool"
  done
  [ -x "$HEADLESS_SHELL" ] || echo "$HEADLESS_SHELL"
}

absent=$(missing | tr '\n' ' ')
[ -z "$absent" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing ${absent% }, which the tests need. Install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${PACKAGES[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: missing ${absent% }, and no apt-get here to install ${PACKAGES[*]}" >&2
  exit 1
fi

echo "system-deps: installing ${PACKAGES[*]} (missing: ${absent% })" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
for package in "${PACKAGES[@]}"; do
  candidate=$(apt-cache policy "$package" | sed -n 's/^ *Candidate: //p')
  if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
    echo "system-deps: the configured apt sources have no package $package" >&2
    exit 1
  fi
done
apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
# The package may start a Prometheus server (as user prometheus); tests start their own.
pkill -x -u prometheus prometheus || true

absent=$(missing | tr '\n' ' ')
if [ -n "$absent" ]; then
  echo "system-deps: still missing after the install: ${absent% }" >&2
  exit 1
fi
