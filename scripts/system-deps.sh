#!/usr/bin/env bash
# Ensure the Debian/Ubuntu packages Qt/QtWebEngine (and, for tests, Xvfb; for lint, Node.js) need.
# As root with apt-get: installs what is missing. Otherwise: prints the exact command.
# usage: scripts/system-deps.sh run|test|lint
set -euo pipefail
what="${1:-run}"

RUN_PKGS=(
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
  libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 libegl1 libgl1 libnss3
  libxcomposite1 libxdamage1 libxrandr2 libxtst6 libxkbfile1 libxshmfence1
  libgbm1 libfontconfig1 libdbus-1-3
  libpulse0   # QtMultimedia (the emergency alert's sound; without it the app beeps instead)
  osmium-tool
)
TEST_PKGS=("${RUN_PKGS[@]}" xvfb xauth wrk chromium)   # wrk: the ingest benchmark's load; chromium: the seed's browser snippet against the API
LINT_PKGS=(nodejs npm)   # eslint over the map page's modules (package.json, `make lint`)
case "$what" in
  run) wanted=("${RUN_PKGS[@]}") ;;
  test) wanted=("${TEST_PKGS[@]}") ;;
  lint) wanted=("${LINT_PKGS[@]}") ;;
  *) echo "usage: $0 run|test|lint" >&2; exit 2 ;;
esac

# lint needs the node and npm commands, from Debian's packages or any other install (NodeSource's
# nodejs bundles npm and conflicts with Debian's npm package): the commands are checked, not packages.
if [ "$what" = lint ] && command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
  if [ "$what" = lint ]; then echo "system-deps: not a Debian/Ubuntu system; install Node.js and npm yourself." >&2; exit 1; fi
  echo "system-deps: not a Debian/Ubuntu system; install Qt 6's xcb, EGL and NSS libraries (and Xvfb for tests) yourself." >&2
  exit 0
fi

missing=()
for p in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# ALSA's runtime was renamed (libasound2 -> libasound2t64); accept either.
if [ "$what" != lint ] && ! dpkg-query -W -f='${Status}' libasound2 2>/dev/null | grep -q "ok installed" \
   && ! dpkg-query -W -f='${Status}' libasound2t64 2>/dev/null | grep -q "ok installed"; then
  if apt-cache show libasound2t64 >/dev/null 2>&1; then missing+=(libasound2t64); else missing+=(libasound2); fi
fi
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/cartrack-apt.log 2>&1; then
    apt-get update -q >>/tmp/cartrack-apt.log 2>&1 || true
    apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/cartrack-apt.log 2>&1 \
      || { echo "system-deps: apt-get failed, see /tmp/cartrack-apt.log" >&2; exit 1; }
  fi
else
  echo "system-deps: missing system packages. Run as root:" >&2
  echo "  sudo $cmd" >&2
  if [ "$what" != run ]; then exit 1; fi
fi
