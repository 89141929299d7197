#!/usr/bin/env bash
# Rebuild the console's vendored browser files from npm (pinned in scripts/console/package.json
# and its package-lock.json): terra-draw (AOI drawing on MapLibre), Chart.js, the Inter font,
# and axe-core for the accessibility tests. Nothing is fetched at run time; run this only to
# update a version, then commit the files it writes.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
VENDOR=src/sathub/api/static/vendor
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp scripts/console/package.json "$WORK/"
[ -f scripts/console/package-lock.json ] && cp scripts/console/package-lock.json "$WORK/"
(cd "$WORK" && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --omit=peer --ignore-scripts;
 else npm install --no-audit --no-fund --omit=peer --ignore-scripts; fi) >/dev/null
cp "$WORK/package-lock.json" scripts/console/package-lock.json
M="$WORK/node_modules"
version() { node -p "require('$M/$1/package.json').version"; }

mkdir -p "$VENDOR/terra-draw" "$VENDOR/chart.js" "$VENDOR/fonts" tests/vendor/axe-core
cp "$M/terra-draw/dist/terra-draw.umd.js" "$VENDOR/terra-draw/"
cp "$M/terra-draw-maplibre-gl-adapter/dist/terra-draw-maplibre-gl-adapter.umd.js" "$VENDOR/terra-draw/"
# terra-draw's npm packages carry no licence file; this is its repository's LICENSE (MIT).
cat > "$VENDOR/terra-draw/LICENSE" <<'LIC'
Copyright 2022 James Milner

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated documentation files (the "Software"), to deal in the Software without restriction, including without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
LIC
cp "$M/chart.js/dist/chart.umd.min.js" "$VENDOR/chart.js/"
cp "$M/chart.js/LICENSE.md" "$VENDOR/chart.js/LICENSE.md"
cp "$M/@kurkle/color/LICENSE.md" "$VENDOR/chart.js/LICENSE.kurkle-color.md"  # bundled inside chart.umd
for w in 400 600; do cp "$M/@fontsource/inter/files/inter-latin-$w-normal.woff2" "$VENDOR/fonts/"; done
cp "$M/@fontsource/inter/LICENSE" "$VENDOR/fonts/LICENSE.inter"
cat > "$VENDOR/fonts/inter.css" <<'CSS'
/* Inter (SIL Open Font License 1.1), latin subset, from @fontsource/inter; see LICENSE.inter */
@font-face { font-family: "Inter"; font-style: normal; font-display: swap; font-weight: 400;
  src: url("inter-latin-400-normal.woff2") format("woff2"); }
@font-face { font-family: "Inter"; font-style: normal; font-display: swap; font-weight: 600;
  src: url("inter-latin-600-normal.woff2") format("woff2"); }
CSS
cp "$M/axe-core/axe.min.js" "$M/axe-core/LICENSE" tests/vendor/axe-core/
# The basemap the console's maps draw: the same files, at the same paths, as the viewer's
# (scripts/build-basemap.sh of the frontend writes them too, byte for byte).
mkdir -p "$VENDOR/basemap"
cp "$M/world-atlas/countries-50m.json" "$VENDOR/basemap/countries-50m.json"
cp "$M/world-atlas/LICENSE" "$VENDOR/basemap/LICENSE.world-atlas"
cp "$M/topojson-client/dist/topojson-client.min.js" "$VENDOR/basemap/topojson-client.min.js"
cp "$M/topojson-client/LICENSE" "$VENDOR/basemap/LICENSE.topojson-client"

# VERSIONS.txt: this script's block is rewritten, the others are kept.
VERSIONS="$VENDOR/VERSIONS.txt"
grep -v '(console)' "$VERSIONS" > "$WORK/versions" || true
{
  cat "$WORK/versions"
  echo "terra-draw $(version terra-draw) + terra-draw-maplibre-gl-adapter $(version terra-draw-maplibre-gl-adapter) (npm, MIT) (console): terra-draw/*.umd.js, LICENSE; by scripts/build-console.sh"
  echo "chart.js $(version chart.js) (npm, MIT; bundles @kurkle/color $(version @kurkle/color), MIT) (console): chart.js/chart.umd.min.js, LICENSE.md, LICENSE.kurkle-color.md; by scripts/build-console.sh"
  echo "@fontsource/inter $(version @fontsource/inter) (npm, OFL-1.1) (console): fonts/inter-latin-{400,600}-normal.woff2, inter.css, LICENSE.inter; by scripts/build-console.sh"
  grep -q '^world-atlas' "$WORK/versions" || echo "world-atlas $(version world-atlas) (npm, ISC; Natural Earth, public domain) + topojson-client $(version topojson-client) (npm, ISC) (console): basemap/countries-50m.json, topojson-client.min.js, LICENSE.world-atlas, LICENSE.topojson-client; by scripts/build-console.sh"
  echo "axe-core $(version axe-core) (npm, MPL-2.0) (console, tests only): tests/vendor/axe-core/axe.min.js, LICENSE; by scripts/build-console.sh"
} > "$VERSIONS"
echo "console vendor files written under $VENDOR and tests/vendor (node $(node --version))"
