#!/usr/bin/env bash
# Rebuild the vendored STAC Browser (src/sathub/api/static/vendor/stac-browser/) from its npm
# package, which ships sources only. Needs node ≥ 20 and npm (the npm registry is the only
# network access, and only here: the built files are committed and served by sathub at
# /browser/ with nothing fetched at run time).
#
#   scripts/build-stac-browser.sh                 build with the pinned lock file
#   scripts/build-stac-browser.sh --update-lock   re-resolve the dependencies first (after a
#                                                 version bump) and rewrite the lock file
#
# Pinned: the package version and tarball integrity below, every dependency by
# scripts/stac-browser/package-lock.json (npm ci), and ol-stac at 1.1.0 (STAC Browser 4 asks
# for ^1.1.0, but later ol-stac releases need a newer OpenLayers than its ~10.6 and a different
# stac-js). sathub's build configuration (scripts/stac-browser/config.js) and basemap
# (scripts/stac-browser/basemaps.config.js: the bundled Natural Earth countries instead of
# OpenStreetMap tiles) replace the package's own files.
set -euo pipefail
VERSION=4.0.1
INTEGRITY="sha512-Nu3pZzkJXfaS8JpsY1SjABMgr8W9swNmVa8RJoRetuDeMQ1+YibBRluC7G9ugzE/QECHD/9n3/8W/Ksz+UAC7w=="
OL_STAC=1.1.0

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
CONF="$HERE/stac-browser"
OUT="$REPO/src/sathub/api/static/vendor/stac-browser"
VERSIONS="$REPO/src/sathub/api/static/vendor/VERSIONS.txt"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
TGZ="$(npm pack "@radiantearth/stac-browser@$VERSION" --silent)"
GOT="sha512-$(openssl dgst -sha512 -binary "$TGZ" | base64 -w0)"
if [ "$GOT" != "$INTEGRITY" ]; then
  echo "integrity mismatch for $TGZ: $GOT" >&2
  exit 1
fi
tar xzf "$TGZ"
cd package
cp "$CONF/config.js" config.js
cp "$CONF/basemaps.config.js" basemaps.config.js
npm pkg set "dependencies.ol-stac=$OL_STAC"
if [ "${1:-}" = "--update-lock" ]; then
  npm install --package-lock-only --ignore-scripts --no-audit --no-fund
  cp package-lock.json "$CONF/package-lock.json"
else
  cp "$CONF/package-lock.json" package-lock.json
fi
npm ci --ignore-scripts --no-audit --no-fund
npm run build:minimal   # vue-cli-service build --noSourceMaps

rm -rf "$OUT"
mkdir -p "$OUT"
cp -r dist/. "$OUT/"
rm -f "$OUT/config.js"  # the empty run-time config of the package; sathub serves its own
cp LICENSE "$OUT/LICENSE"

LINE="@radiantearth/stac-browser $VERSION (npm, ISC): stac-browser/ = dist/ of 'npm run build:minimal' + LICENSE; built by scripts/build-stac-browser.sh (node $(node --version), ol-stac $OL_STAC, lock scripts/stac-browser/package-lock.json)"
grep -v '^@radiantearth/stac-browser ' "$VERSIONS" > "$WORK/versions" || true
printf '%s\n' "$LINE" >> "$WORK/versions"
cp "$WORK/versions" "$VERSIONS"
echo "STAC Browser $VERSION built into $OUT"
