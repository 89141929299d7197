/* STAC Browser's run-time configuration in sathub (loaded before the app by the page that
   sathub serves at {root}/browser/, whose <base href> is that address). Build-time options are
   in scripts/stac-browser/config.js. */
"use strict";
(function () {
  var base = new URL(document.baseURI);           // {root}/browser/
  var root = new URL("../", base).href;           // {root}/ : the STAC API landing page
  function renderFor(asset) {
    // The item's default rendering of this asset (STAC render extension), if sathub made one.
    var item = asset.getContext && asset.getContext();
    var renders = (item && item.properties && item.properties.renders) || {};
    var key = asset.getKey();
    for (var name in renders) {
      var r = renders[name];
      if (r && Array.isArray(r.assets) && r.assets.length === 1 && r.assets[0] === key) return r;
    }
    return null;
  }
  window.STAC_BROWSER_CONFIG = {
    catalogUrl: root,
    pathPrefix: base.pathname,
    // "Show on map" for an asset: sathub's own tiles, with the item's default rendering.
    buildTileUrlTemplate: function (asset) {
      var item = asset.getContext && asset.getContext();
      if (!item || typeof item.getAbsoluteUrl !== "function") return null;
      var params = new URLSearchParams();
      params.set("asset", asset.getKey());
      var r = renderFor(asset);
      if (r) {
        (r.bidx || []).forEach(function (b) { params.append("bidx", String(b)); });
        (r.rescale || []).forEach(function (p) { params.append("rescale", p[0] + "," + p[1]); });
        if (r.colormap) params.set("colormap", JSON.stringify(r.colormap));
      }
      return item.getAbsoluteUrl().replace(/\/$/, "") + "/tiles/WebMercatorQuad/{z}/{x}/{y}.png?" + params.toString();
    }
  };
})();
