/* sathub console, analytics: a job started from the form is followed to its end, then its
   result (GET /analytics/jobs/{id}/result) is drawn: the area and the derived product on the
   map, the numbers as a chart and a table. */
(function () {
  "use strict";

  const C = window.sathubConsole;
  const t = C.t;
  const M = window.sathubMaps;
  const view = document.getElementById("job-view");
  const statusBox = document.getElementById("job-status");
  const errorBox = document.getElementById("job-error");
  const resultBox = document.getElementById("job-result");
  const state = { job: null, result: null };
  window.sathubAnalytics = state;

  const CLASS_COLOURS = {
    flood: { "0": [0, 0, 0, 0], "1": [213, 94, 0, 230], "2": [0, 114, 178, 200] },
    change: { "0": [0, 0, 0, 0], "1": [213, 94, 0, 230], "2": [0, 158, 115, 230] },
  };

  function jobBox(job) {
    const box = document.createElement("div");
    box.className = "job";
    box.dataset.jobUrl = C.root + "/analytics/jobs/" + job.id;
    box.dataset.status = job.status;
    const status = document.createElement("span");
    status.dataset.jobStatus = "";
    status.className = "status";
    status.classList.add("status-" + job.status);
    status.textContent = t("js.job.status." + job.status);
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = 0;
    bar.setAttribute("aria-label", t("js.job.progress"));
    box.append(status, bar);
    return box;
  }

  function follow(job) {
    state.job = job;
    view.hidden = false;
    errorBox.hidden = true;
    resultBox.hidden = true;
    let box = statusBox.querySelector("[data-job-url]");
    if (!box || !box.dataset.jobUrl.endsWith("/" + job.id)) {
      box = jobBox(job);
      statusBox.replaceChildren(box);
    }
    box.addEventListener("console:job", (e) => finished(e.detail));
    if (["succeeded", "failed", "cancelled"].includes(job.status)) finished(job);
    else C.watchJob(box);
  }

  function finished(job) {
    state.job = job;
    if (job.status === "succeeded") {
      load(job).catch((err) => { errorBox.textContent = err.message; errorBox.hidden = false; });
    } else if (job.status === "failed" || job.status === "cancelled") {
      errorBox.textContent = job.error || t("js.job.status." + job.status);
      errorBox.hidden = false;
    }
  }

  /* ------------------------------------------------------------- chart and table */
  function zonalChart(result) {
    const rows = result.intervals || result.rows || [];
    const labels = [...new Set(rows.map((r) => String(r.datetime).slice(0, 10)))].sort();
    const zones = [...new Set(rows.map((r) => String(r.id)))];
    const series = zones.map((z) => ({ label: t("js.analytics.zone", { id: z }), values: labels.map((d) => {
      const hit = rows.find((r) => String(r.id) === z && String(r.datetime).slice(0, 10) === d);
      return hit && hit.mean !== null && hit.mean !== undefined ? hit.mean : null;
    }) }));
    return { kind: "lines", data: { labels, series, x: t("js.analytics.date"),
      y: t("js.analytics.mean", { index: result.index || "" }) },
      columns: ["id", "datetime", "mean", "count"], rows };
  }

  function zoneBars(result, measures) {
    const rows = result.zones || [];
    return { kind: "bars", data: { labels: rows.map((r) => t("js.analytics.zone", { id: r.id })),
      series: measures.map((m) => ({ label: t("js.analytics.measure." + m), values: rows.map((r) => r[m]) })),
      y: t("js.analytics.km2") }, columns: ["id"].concat(measures), rows };
  }

  function compositeBars(result) {
    return { kind: "bars", data: { labels: [t("js.analytics.scenes")], series: [
      { label: t("js.analytics.used"), values: [result.scenes] },
      { label: t("js.analytics.skipped"), values: [(result.skipped || []).length] }],
      y: t("js.analytics.count") }, columns: ["scenes", "observed_fraction"], rows: [result] };
  }

  function table(columns, rows) {
    const head = document.querySelector("#result-table thead");
    const body = document.querySelector("#result-table tbody");
    const tr = document.createElement("tr");
    for (const c of columns) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = t("js.analytics.column." + c);
      tr.append(th);
    }
    head.replaceChildren(tr);
    body.replaceChildren(...rows.slice(0, 200).map((r) => {
      const row = document.createElement("tr");
      for (const c of columns) {
        const td = document.createElement("td");
        const v = r[c];
        td.textContent = typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : (v === null || v === undefined ? "—" : String(v));
        row.append(td);
      }
      return row;
    }));
  }

  /* ----------------------------------------------------------------------- map */
  async function drawMap(job, result) {
    const entry = M.maps["result-map"];
    await entry.loaded;
    entry.map.resize();
    const aoi = job.parameters && job.parameters.aoi;
    if (aoi) {
      M.setLayer(entry.map, "aoi", aoi, "#b3261e");
      M.fit(entry.map, aoi, 15);
    }
    const item = result.item;
    if (!item || !CLASS_COLOURS[job.kind] && job.kind !== "composite") return;
    const base = C.root + "/collections/" + encodeURIComponent(item.collection) + "/items/"
      + encodeURIComponent(item.id) + "/tiles/WebMercatorQuad/{z}/{x}/{y}.png?";
    const query = job.kind === "composite"
      ? "asset=red&rescale=0,0.3&colormap_name=greys_r"
      : "asset=" + job.kind + "&colormap=" + encodeURIComponent(JSON.stringify(CLASS_COLOURS[job.kind]));
    const tiles = base + query;
    if (entry.map.getLayer("product")) entry.map.removeLayer("product");
    if (entry.map.getSource("product")) entry.map.removeSource("product");
    const bounds = aoi ? M.bounds(aoi) : null;
    entry.map.addSource("product", { type: "raster", tiles: [location.origin + tiles], tileSize: 256,
      bounds: bounds ? [bounds[0][0], bounds[0][1], bounds[1][0], bounds[1][1]] : undefined });
    entry.map.addLayer({ id: "product", type: "raster", source: "product", paint: { "raster-opacity": 0.85 } },
      entry.map.getLayer("aoi-fill") ? "aoi-fill" : undefined);
    const links = document.getElementById("result-links");
    const a = document.createElement("a");
    a.href = C.root + "/collections/" + encodeURIComponent(item.collection) + "/items/" + encodeURIComponent(item.id);
    a.textContent = t("js.analytics.derived_item", { id: item.id });
    links.replaceChildren(a);
  }

  async function load(job) {
    const result = await C.api("GET", C.root + "/analytics/jobs/" + job.id + "/result");
    state.result = result;
    resultBox.hidden = false;
    let spec;
    if (job.kind === "zonal") spec = zonalChart(result);
    else if (job.kind === "flood") spec = zoneBars(result, ["flooded_km2", "unobserved_km2"]);
    else if (job.kind === "change") spec = zoneBars(result, ["decrease_km2", "increase_km2", "unobserved_km2"]);
    else spec = compositeBars(result);
    const canvas = document.getElementById("result-chart");
    canvas.dataset.chart = spec.kind;
    window.sathubCharts.draw(canvas, spec.data);
    document.getElementById("result-caption").textContent = t("js.analytics.caption." + job.kind);
    table(spec.columns, spec.rows);
    if (job.kind === "zonal") {
      const links = document.getElementById("result-links");
      const a = document.createElement("a");
      a.href = C.root + "/analytics/jobs/" + job.id + "/result?format=csv";
      a.textContent = t("js.analytics.csv");
      links.replaceChildren(a);
    }
    await drawMap(job, result);
    state.loaded = true;
    document.getElementById("job-title").focus();
  }

  const form = document.getElementById("job-form");
  form.addEventListener("console:done", (e) => follow(e.detail));
  const opened = document.getElementById("opened-job");
  if (opened) follow(JSON.parse(opened.textContent));
})();
