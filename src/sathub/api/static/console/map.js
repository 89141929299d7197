/* sathub console maps (MapLibre, nothing fetched from outside): the bundled Natural Earth
   basemap, GeoJSON layers from the page, and an area of interest drawn with terra-draw,
   uploaded as a file or typed as GeoJSON (the textarea the form sends). */
(function () {
  "use strict";

  const C = window.sathubConsole;
  const t = C.t;
  const STATIC = C.root + "/static/vendor/basemap/";
  const maps = {};
  let basemap = null;

  function locale() {
    return {
      "Map.Title": t("js.map.title"),
      "NavigationControl.ZoomIn": t("js.map.zoom_in"),
      "NavigationControl.ZoomOut": t("js.map.zoom_out"),
      "NavigationControl.ResetBearing": t("js.map.reset_bearing"),
      "Popup.Close": t("js.map.popup_close"),
      "Marker.Title": t("js.map.marker"),
    };
  }

  function loadBasemap() {
    if (!basemap) {
      basemap = fetch(STATIC + "countries-50m.json")
        .then((r) => (r.ok ? r.json() : null))
        .then((topo) => (topo ? window.topojson.feature(topo, topo.objects.countries) : null))
        .catch(() => null);
    }
    return basemap;
  }

  function bounds(geojson) {
    let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
    const walk = (c) => {
      if (typeof c[0] === "number") {
        w = Math.min(w, c[0]); e = Math.max(e, c[0]); s = Math.min(s, c[1]); n = Math.max(n, c[1]);
      } else {
        c.forEach(walk);
      }
    };
    const each = (g) => {
      if (!g) return;
      if (g.type === "FeatureCollection") g.features.forEach((f) => each(f.geometry));
      else if (g.type === "Feature") each(g.geometry);
      else if (g.type === "GeometryCollection") g.geometries.forEach(each);
      else if (g.coordinates) walk(g.coordinates);
    };
    each(geojson);
    return w <= e ? [[w, s], [e, n]] : null;
  }

  function asGeometry(doc) {
    if (!doc || typeof doc !== "object") return null;
    if (doc.type === "FeatureCollection" && doc.features && doc.features.length === 1) return doc.features[0].geometry;
    if (doc.type === "Feature") return doc.geometry;
    return doc;
  }

  function setLayer(map, name, data, colour) {
    const src = map.getSource(name);
    if (src) {
      src.setData(data);
      return;
    }
    map.addSource(name, { type: "geojson", data });
    map.addLayer({ id: name + "-fill", type: "fill", source: name, filter: ["==", ["geometry-type"], "Polygon"],
      paint: { "fill-color": colour, "fill-opacity": 0.18 } });
    map.addLayer({ id: name + "-line", type: "line", source: name,
      paint: { "line-color": colour, "line-width": 2 } });
    map.addLayer({ id: name + "-point", type: "circle", source: name, filter: ["==", ["geometry-type"], "Point"],
      paint: { "circle-color": colour, "circle-radius": 5 } });
  }

  function fit(map, data, maxZoom) {
    const b = bounds(data);
    if (b) map.fitBounds(b, { padding: 30, maxZoom: maxZoom || 9, duration: 0 });
  }

  function create(el) {
    const map = new maplibregl.Map({
      container: el,
      style: { version: 8, sources: {}, layers: [
        { id: "sea", type: "background", paint: { "background-color": "#cfe0ea" } }] },
      center: [96, 19], zoom: 3, attributionControl: false, locale: locale(),
      dragRotate: false, pitchWithRotate: false,
    });
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
    const entry = { map, el, ready: false, layers: {} };
    maps[el.id] = entry;
    entry.loaded = new Promise((resolve) => map.on("load", resolve)).then(async () => {
      const countries = await loadBasemap();
      if (countries) {
        map.addSource("countries", { type: "geojson", data: countries });
        map.addLayer({ id: "land", type: "fill", source: "countries", paint: { "fill-color": "#f3f1ea" } });
        map.addLayer({ id: "borders", type: "line", source: "countries",
          paint: { "line-color": "#9aa3ad", "line-width": 0.6 } });
      }
      if (el.dataset.geojson) {
        const data = JSON.parse(document.getElementById(el.dataset.geojson).textContent);
        setLayer(map, "data", data, "#0b5cad");
        fit(map, data);
      }
      if (el.dataset.aoiFor) setupDraw(entry, document.getElementById(el.dataset.aoiFor));
      entry.ready = true;
      return entry;
    });
    return entry;
  }

  /* ------------------------------------------------------------ area of interest */
  function setupDraw(entry, field) {
    const map = entry.map;
    const TD = window.terraDraw;
    const draw = new TD.TerraDraw({
      adapter: new window.terraDrawMaplibreGlAdapter.TerraDrawMapLibreGLAdapter({ map }),
      modes: [new TD.TerraDrawRectangleMode(), new TD.TerraDrawPolygonMode()],
    });
    draw.start();
    entry.draw = draw;
    const show = (geometry) => {
      setLayer(map, "aoi", geometry ? { type: "Feature", geometry, properties: {} }
        : { type: "FeatureCollection", features: [] }, "#b3261e");
    };
    entry.setAoi = (geometry, options) => {
      field.value = geometry ? JSON.stringify(geometry) : "";
      show(geometry);
      if (geometry && !(options && options.keepView)) fit(map, geometry);
      field.dispatchEvent(new Event("change", { bubbles: true }));
    };
    draw.on("finish", (id) => {
      const feature = draw.getSnapshotFeature ? draw.getSnapshotFeature(id)
        : draw.getSnapshot().find((f) => f.id === id);
      draw.clear();
      draw.setMode("static");
      if (feature) entry.setAoi(feature.geometry, { keepView: true });
    });
    field.addEventListener("input", () => {
      try {
        show(asGeometry(JSON.parse(field.value)));
      } catch (e) {
        show(null);
      }
    });
    if (field.value) {
      try { show(asGeometry(JSON.parse(field.value))); } catch (e) { /* the API names the problem */ }
    }
  }

  document.addEventListener("click", async (e) => {
    const button = e.target.closest && e.target.closest("[data-draw]");
    if (!button) return;
    const entry = maps[button.dataset.mapId];
    if (!entry) return;
    await entry.loaded;
    if (button.dataset.draw === "clear") {
      entry.draw.clear();
      entry.draw.setMode("static");
      entry.setAoi(null);
    } else {
      entry.draw.setMode(button.dataset.draw);
      entry.map.getCanvas().focus();
    }
  });

  document.addEventListener("change", (e) => {
    const input = e.target;
    if (!input.matches || !input.matches("input[type=file][data-aoi-file]") || !input.files.length) return;
    const field = document.getElementById(input.dataset.aoiFile);
    const entry = Object.values(maps).find((m) => m.el.dataset.aoiFor === field.id);
    input.files[0].text().then((text) => {
      let geometry = null;
      try { geometry = asGeometry(JSON.parse(text)); } catch (err) { geometry = null; }
      if (geometry && entry) entry.loaded.then(() => entry.setAoi(geometry));
      else field.value = text;  // the API names what is wrong with it
    });
  });

  for (const el of document.querySelectorAll("[data-map]")) create(el);
  window.sathubMaps = { maps, setLayer, fit, bounds, asGeometry };
})();
