// sathub's basemap for STAC Browser (replaces the package's basemaps.config.js, whose
// OpenStreetMap tiles would be fetched from the internet): the Natural Earth countries and
// Myanmar's states and regions bundled with sathub (static/vendor/basemap/, built by
// scripts/build-basemap.sh), drawn as vectors. No request leaves the sathub server.
import GeoJSON from 'ol/format/GeoJSON.js';
import TopoJSON from 'ol/format/TopoJSON.js';
import LayerGroup from 'ol/layer/Group.js';
import VectorLayer from 'ol/layer/Vector.js';
import VectorSource from 'ol/source/Vector.js';
import { Fill, Stroke, Style } from 'ol/style.js';

// The page's <base href> is {root}/browser/; the basemap is under {root}/static/.
function basemapUrl(file) {
  return new URL('../static/vendor/basemap/' + file, document.baseURI).toString();
}

const TITLE = 'Natural Earth (bundled with sathub)';
const countryStyle = new Style({
  fill: new Fill({ color: '#f2efe9' }),
  stroke: new Stroke({ color: '#8c8c8c', width: 0.8 })
});
const stateStyle = new Style({
  stroke: new Stroke({ color: '#a08cb8', width: 0.8, lineDash: [4, 3] })
});

export default function configureBasemap() {
  return [
    {
      is: 'Vector',
      title: TITLE,
      attributions: 'Natural Earth',
      projection: 'EPSG:3857',
      url: basemapUrl('countries-50m.json'),
      format: new TopoJSON({ layers: ['countries'] }),
      layerCreated: (layer, source) => new LayerGroup({
        title: TITLE,
        base: true,
        layers: [
          new VectorLayer({ source, style: countryStyle, background: '#c6dbe9' }),
          new VectorLayer({
            source: new VectorSource({ url: basemapUrl('myanmar-admin1.geojson'), format: new GeoJSON() }),
            style: stateStyle,
            minZoom: 4
          })
        ]
      })
    }
  ];
}
