/* sathub web map viewer: collections, search by extent/date/cloud, footprints, item details,
   item tiles (true colour, NDVI), downloads. No network access besides this sathub server. */
"use strict";
(function () {
  const base = new URL(".", window.location.href).href; // the API root (viewer is at {root}/viewer)
  const $ = (id) => document.getElementById(id);
  const state = { features: [], item: null, layer: null, tilesLoaded: 0, errors: [] };
  window.sathubViewer = state;

  // Bundled basemap (static/vendor/basemap/: Natural Earth countries from world-atlas and
  // Myanmar's states and regions), drawn as vectors: nothing is fetched from elsewhere.
  const empty = { type: "FeatureCollection", features: [] };
  const style = {
    version: 8,
    sources: {
      countries: { type: "geojson", data: empty },
      coastlines: { type: "geojson", data: empty },
      borders: { type: "geojson", data: empty },
      states: { type: "geojson", data: empty },
    },
    layers: [
      { id: "background", type: "background", paint: { "background-color": "#c6dbe9" } },
      { id: "countries", type: "fill", source: "countries", paint: { "fill-color": "#f2efe9" } },
      { id: "states", type: "line", source: "states", minzoom: 4,
        paint: { "line-color": "#a08cb8", "line-width": 0.8, "line-dasharray": [4, 3] } },
      { id: "borders", type: "line", source: "borders", paint: { "line-color": "#8c8c8c", "line-width": 0.8 } },
      { id: "coastlines", type: "line", source: "coastlines", paint: { "line-color": "#6f94ad", "line-width": 0.8 } },
    ],
  };
  const map = new maplibregl.Map({
    container: "map", style, center: [96.1, 19.5], zoom: 4,
    attributionControl: false, preserveDrawingBuffer: true,
    canvasContextAttributes: { preserveDrawingBuffer: true },
  });
  state.map = map;
  map.addControl(new maplibregl.NavigationControl(), "top-right");
  map.addControl(new maplibregl.ScaleControl(), "bottom-right");

  async function getJSON(url, init) {
    const r = await fetch(url, init);
    if (!r.ok) {
      let msg = r.status + " " + r.statusText;
      try { msg = (await r.json()).description || msg; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    return r.json();
  }
  function status(text) { $("status").textContent = text; }

  async function loadBasemap() {
    const vendor = base + "static/vendor/basemap/";
    const [world, states] = await Promise.all([getJSON(vendor + "countries-50m.json"),
                                               getJSON(vendor + "myanmar-admin1.geojson")]);
    const countries = world.objects.countries;
    map.getSource("countries").setData(topojson.feature(world, countries));
    map.getSource("coastlines").setData(topojson.mesh(world, countries, (a, b) => a === b));
    map.getSource("borders").setData(topojson.mesh(world, countries, (a, b) => a !== b));
    map.getSource("states").setData(states);
    state.basemap = true;
  }

  function unionBbox(bboxes) {
    const ok = bboxes.filter((b) => Array.isArray(b) && b.length >= 4 &&
      !(b[0] <= -180 && b[1] <= -90 && b[2] >= 180 && b[3] >= 90)); // a placeholder extent
    if (!ok.length) return null;
    const d = (b) => (b.length === 6 ? [b[0], b[1], b[3], b[4]] : b);
    return ok.map(d).reduce((u, b) => [Math.min(u[0], b[0]), Math.min(u[1], b[1]),
                                      Math.max(u[2], b[2]), Math.max(u[3], b[3])]);
  }
  function fitTo(bbox) {
    if (!bbox) return;
    map.fitBounds([[bbox[0], bbox[1]], [bbox[2], bbox[3]]], { padding: 40, duration: 0, maxZoom: 12 });
  }

  async function loadCollections() {
    const data = await getJSON(base + "collections?limit=1000");
    for (const c of data.collections) {
      const o = document.createElement("option");
      o.value = c.id; o.textContent = c.title || c.id;
      $("collection").appendChild(o);
    }
    state.collections = data.collections;
  }

  function searchBody(anywhere) {
    const body = { limit: 200 };
    const c = $("collection").value;
    if (c) body.collections = [c];
    if ($("extent").checked && !anywhere) {
      const b = map.getBounds();
      body.bbox = [Math.max(-180, b.getWest()), Math.max(-90, b.getSouth()),
                   Math.min(180, b.getEast()), Math.min(90, b.getNorth())];
    }
    const s = $("start").value, e = $("end").value;
    if (s || e) body.datetime = (s ? s + "T00:00:00Z" : "..") + "/" + (e ? e + "T23:59:59Z" : "..");
    const cloud = Number($("cloud").value);
    if (cloud < 100) body.query = { "eo:cloud_cover": { lte: cloud } };
    body.sortby = [{ field: "datetime", direction: "desc" }];
    return body;
  }

  async function search(ev, anywhere) {
    if (ev) ev.preventDefault();
    status("searching…");
    try {
      const fc = await getJSON(base + "search", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(searchBody(anywhere)),
      });
      state.features = fc.features;
      map.getSource("footprints").setData({ type: "FeatureCollection", features: fc.features.map(
        (f) => ({ type: "Feature", geometry: f.geometry, id: undefined,
                  properties: { id: f.id, collection: f.collection } })) });
      const n = fc.numberMatched !== undefined ? fc.numberMatched : fc.features.length;
      status(fc.features.length + " shown of " + n + " matching items");
      const ol = $("results"); ol.innerHTML = "";
      for (const f of fc.features) {
        const li = document.createElement("li");
        const cc = f.properties["eo:cloud_cover"];
        li.textContent = (f.properties.datetime || "").slice(0, 10) + " " + f.id +
          (cc !== undefined ? " (" + Math.round(cc) + " % cloud)" : "");
        li.onclick = () => showItem(f);
        li.dataset.id = f.id;
        ol.appendChild(li);
      }
      return fc;
    } catch (e) { status("search failed: " + e.message); throw e; }
  }

  function link(item, rel) { return (item.links || []).find((l) => l.rel === rel); }
  function cogAsset(item) {
    for (const [k, a] of Object.entries(item.assets || {})) {
      if ((a.type || "").includes("geotiff") && (a.roles || []).includes("data")) return [k, a];
    }
    return [null, null];
  }
  function bandIndex(asset, names) {
    const bands = asset["eo:bands"] || [];
    for (let i = 0; i < bands.length; i++) {
      if (names.includes(bands[i].common_name) || names.includes(bands[i].name)) return i + 1;
    }
    return null;
  }

  function showItem(f) {
    state.item = f;
    for (const li of $("results").children) li.classList.toggle("sel", li.dataset.id === f.id);
    $("item").hidden = false;
    $("item-title").textContent = f.id;
    const thumb = f.assets && f.assets.thumbnail;
    $("thumb").hidden = !thumb;
    if (thumb) $("thumb").src = thumb.href;
    const dl = $("downloads"); dl.innerHTML = "";
    for (const [k, a] of Object.entries(f.assets || {})) {
      const el = document.createElement("a");
      el.href = a.href; el.textContent = "⬇ " + k; el.setAttribute("download", "");
      el.title = (a.type || "") + (a["file:size"] ? " — " + (a["file:size"] / 1e6).toFixed(1) + " MB" : "");
      dl.appendChild(el); dl.appendChild(document.createTextNode(" "));
    }
    const rows = [["collection", f.collection], ...Object.entries(f.properties).filter(
      ([k]) => !k.startsWith("proj:") && k !== "eo:bands")];
    $("props").innerHTML = "";
    for (const [k, v] of rows) {
      const tr = $("props").insertRow();
      tr.insertCell().textContent = k;
      tr.insertCell().textContent = typeof v === "object" ? JSON.stringify(v) : String(v);
    }
    const [, asset] = cogAsset(f);
    $("truecolor").disabled = !link(f, "xyz");
    $("ndvi").disabled = !asset || !bandIndex(asset, ["nir", "nir08", "B08", "B8A"]) || !bandIndex(asset, ["red"]);
    if (f.bbox) map.fitBounds([[f.bbox[0], f.bbox[1]], [f.bbox[2], f.bbox[3]]], { padding: 40, duration: 0 });
  }

  function addTiles(kind) {
    // The item's xyz link carries sathub's default rendering (bands and stretch from the
    // recorded statistics: STAC render extension); NDVI replaces its parameters.
    const f = state.item;
    const xyz = link(f, "xyz");
    if (!xyz) return null;
    let url = xyz.href;
    if (kind === "ndvi") {
      const [key, asset] = cogAsset(f);
      const nir = bandIndex(asset, ["nir", "nir08", "B08", "B8A"]), red = bandIndex(asset, ["red"]);
      const p = new URLSearchParams();
      if (key) p.set("asset", key);
      p.set("expression", `(b${nir}-b${red})/(b${nir}+b${red})`);
      p.set("rescale", "-1,1"); p.set("colormap_name", "rdylgn");
      url = xyz.href.split("?")[0] + "?" + p.toString();
    }
    removeTiles();
    state.tilesLoaded = 0;
    map.addSource("item-tiles", { type: "raster", tiles: [url], tileSize: 256,
      bounds: f.bbox && f.bbox.length === 4 ? f.bbox : undefined });
    map.addLayer({ id: "item-tiles", type: "raster", source: "item-tiles" }, "footprints-line");
    state.layer = { kind, url };
    return url;
  }
  function removeTiles() {
    if (map.getLayer("item-tiles")) map.removeLayer("item-tiles");
    if (map.getSource("item-tiles")) map.removeSource("item-tiles");
    state.layer = null;
  }

  map.on("load", async () => {
    map.addSource("footprints", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    map.addLayer({ id: "footprints-fill", type: "fill", source: "footprints",
      paint: { "fill-color": "#0984e3", "fill-opacity": 0.08 } });
    map.addLayer({ id: "footprints-line", type: "line", source: "footprints",
      paint: { "line-color": "#0652dd", "line-width": 1.5 } });
    map.on("click", "footprints-fill", (e) => {
      const id = e.features[0].properties.id;
      const f = state.features.find((x) => x.id === id);
      if (f) showItem(f);
    });
    map.on("data", (e) => { if (e.sourceId === "item-tiles" && e.tile) state.tilesLoaded += 1; });
    await Promise.all([
      loadBasemap().catch((e) => status("cannot load the basemap: " + e.message)),
      loadCollections().catch((e) => status("cannot list collections: " + e.message)),
    ]);
    const m = /item=([^/]+)\/(.+)$/.exec(decodeURIComponent(window.location.hash));
    if (m) {
      try {
        const f = await getJSON(base + "collections/" + encodeURIComponent(m[1]) + "/items/" + encodeURIComponent(m[2]));
        state.features = [f];
        map.getSource("footprints").setData({ type: "FeatureCollection", features: [{ type: "Feature", geometry: f.geometry, properties: { id: f.id } }] });
        showItem(f); addTiles("truecolor");
      } catch (e) { status("cannot open item: " + e.message); }
    } else {
      // First open: the latest items anywhere, and the map on the extent of the data.
      fitTo(unionBbox((state.collections || []).map((c) => c.extent && c.extent.spatial &&
                                                           c.extent.spatial.bbox && c.extent.spatial.bbox[0])));
      try {
        const fc = await search(null, true);
        fitTo(unionBbox(fc.features.map((f) => f.bbox)));
        if (fc.features.length) status("latest " + $("status").textContent);
      } catch (e) { /* reported in the status line */ }
    }
    state.ready = true;
  });
  map.on("error", (e) => { state.errors.push(String(e.error && e.error.message)); });

  $("search").addEventListener("submit", search);
  $("cloud").addEventListener("input", () => { $("cloudv").textContent = $("cloud").value; });
  $("truecolor").onclick = () => addTiles("truecolor");
  $("ndvi").onclick = () => addTiles("ndvi");
  $("clear").onclick = removeTiles;
  state.search = search; state.showItem = showItem; state.addTiles = addTiles;
})();
