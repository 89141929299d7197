/* sathub web map viewer: collections, search by extent/date/cloud, footprints, item details,
   item tiles (true colour, NDVI), downloads. No network access besides this sathub server. */
"use strict";
(function () {
  const base = new URL(".", window.location.href).href; // the API root (viewer is at {root}/viewer)
  const $ = (id) => document.getElementById(id);
  const state = { features: [], item: null, layer: null, tilesLoaded: 0, errors: [] };
  window.sathubViewer = state;

  const style = {
    version: 8,
    sources: {},
    layers: [{ id: "background", type: "background", paint: { "background-color": "#dfe6e9" } }],
  };
  const map = new maplibregl.Map({
    container: "map", style, center: [96.1, 21.6], zoom: 7,
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

  async function loadCollections() {
    const data = await getJSON(base + "collections?limit=1000");
    for (const c of data.collections) {
      const o = document.createElement("option");
      o.value = c.id; o.textContent = c.title || c.id;
      $("collection").appendChild(o);
    }
    state.collections = data.collections;
  }

  function searchBody() {
    const body = { limit: 200 };
    const c = $("collection").value;
    if (c) body.collections = [c];
    if ($("extent").checked) {
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

  async function search(ev) {
    if (ev) ev.preventDefault();
    status("searching…");
    try {
      const fc = await getJSON(base + "search", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(searchBody()),
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

  function rescaleFor(asset, indexes) {
    const rb = asset["raster:bands"] || [];
    let hi = 0;
    const scale = rb[indexes[0] - 1] && rb[indexes[0] - 1].scale;
    if (scale && scale > 0 && scale < 1) return "0," + Math.round(0.3 / scale); // reflectance 0–0.3
    for (const i of indexes) {
      const s = rb[i - 1] && rb[i - 1].statistics;
      if (s && s.mean !== undefined && s.stddev !== undefined) hi = Math.max(hi, s.mean + 2 * s.stddev);
    }
    if (!hi) hi = (rb[0] && rb[0].data_type === "uint8") ? 255 : 3000;
    return "0," + Math.round(hi);
  }

  function addTiles(kind) {
    const f = state.item;
    const xyz = link(f, "xyz");
    if (!xyz) return null;
    const [key, asset] = cogAsset(f);
    const p = new URLSearchParams();
    if (key) p.set("asset", key);
    if (kind === "ndvi") {
      const nir = bandIndex(asset, ["nir", "nir08", "B08", "B8A"]), red = bandIndex(asset, ["red"]);
      p.set("expression", `(b${nir}-b${red})/(b${nir}+b${red})`);
      p.set("rescale", "-1,1"); p.set("colormap_name", "rdylgn");
    } else if (asset) {
      const rgb = ["red", "green", "blue"].map((n) => bandIndex(asset, [n]));
      if (rgb.every((x) => x)) rgb.forEach((b) => p.append("bidx", b));
      p.set("rescale", rescaleFor(asset, rgb.every((x) => x) ? rgb : [1]));
    }
    removeTiles();
    const url = xyz.href + "?" + p.toString();
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
    await loadCollections().catch((e) => status("cannot list collections: " + e.message));
    const m = /item=([^/]+)\/(.+)$/.exec(decodeURIComponent(window.location.hash));
    if (m) {
      try {
        const f = await getJSON(base + "collections/" + encodeURIComponent(m[1]) + "/items/" + encodeURIComponent(m[2]));
        state.features = [f];
        map.getSource("footprints").setData({ type: "FeatureCollection", features: [{ type: "Feature", geometry: f.geometry, properties: { id: f.id } }] });
        showItem(f); addTiles("truecolor");
      } catch (e) { status("cannot open item: " + e.message); }
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
