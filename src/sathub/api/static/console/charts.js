/* sathub console charts (Chart.js, vendored). A <canvas data-chart="KIND" data-source="ID">
   draws the JSON in <script id="ID">; labels come from the page's catalog (t()) or the data.
   Every chart has its numbers in a table on the same page. */
(function () {
  "use strict";

  const t = window.sathubConsole.t;
  const COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];
  const charts = {};
  const MB = 1e6;

  function base(extra) {
    return Object.assign({ responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { position: "bottom" } } }, extra || {});
  }

  const KINDS = {
    usage(d) {
      const datasets = [
        { type: "bar", label: t("js.chart.mb_per_day"), data: d.bytes.map((b) => b / MB),
          backgroundColor: COLOURS[0], yAxisID: "y" },
        { type: "line", label: t("js.chart.cumulative_mb"), data: d.cumulative.map((b) => b / MB),
          borderColor: COLOURS[1], backgroundColor: COLOURS[1], yAxisID: "y2", pointRadius: 0 },
      ];
      if (d.quota !== null && d.quota !== undefined) {
        datasets.push({ type: "line", label: t("js.chart.quota_mb"), data: d.labels.map(() => d.quota / MB),
          borderColor: COLOURS[6], borderDash: [6, 4], yAxisID: "y2", pointRadius: 0 });
      }
      return { data: { labels: d.labels, datasets }, options: base({ scales: {
        x: { title: { display: true, text: t("js.chart.day_of_month") } },
        y: { beginAtZero: true, title: { display: true, text: t("js.chart.mb_per_day") } },
        y2: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false },
          title: { display: true, text: t("js.chart.cumulative_mb") } } } }) };
    },
    lines(d) {
      return { type: "line", data: { labels: d.labels, datasets: d.series.map((s, i) => ({
        label: s.label, data: s.values, borderColor: COLOURS[i % COLOURS.length],
        backgroundColor: COLOURS[i % COLOURS.length], spanGaps: true })) },
        options: base({ scales: { y: { title: { display: true, text: d.y || "" } },
          x: { title: { display: true, text: d.x || "" } } } }) };
    },
    bars(d) {
      return { type: "bar", data: { labels: d.labels, datasets: d.series.map((s, i) => ({
        label: s.label, data: s.values, backgroundColor: COLOURS[i % COLOURS.length] })) },
        options: base({ scales: { y: { beginAtZero: true, title: { display: true, text: d.y || "" } } } }) };
    },
  };

  function draw(canvas, data) {
    const kind = canvas.dataset.chart;
    if (charts[canvas.id]) charts[canvas.id].destroy();
    const spec = KINDS[kind](data);
    charts[canvas.id] = new Chart(canvas, Object.assign({ type: "bar" }, spec));
    return charts[canvas.id];
  }

  for (const canvas of document.querySelectorAll("canvas[data-chart]")) {
    const src = document.getElementById(canvas.dataset.source);
    if (src && src.textContent.trim()) draw(canvas, JSON.parse(src.textContent));
  }
  window.sathubCharts = { charts, draw };
})();
