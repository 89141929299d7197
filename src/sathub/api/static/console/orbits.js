/* sathub console, orbits pages: a satellite's ground track on the map (GET
   /orbits/satellites/{id}/track), and imaging opportunities (POST /orbits/opportunities)
   turned into orders (POST /orbits/orders). */
(function () {
  "use strict";

  const C = window.sathubConsole;
  const t = C.t;
  const M = window.sathubMaps;

  /* ------------------------------------------------------------------ ground track */
  const trackForm = document.getElementById("track-form");
  if (trackForm) {
    trackForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const problem = trackForm.querySelector(".form-error");
      problem.hidden = true;
      const id = trackForm.elements.norad_id.value;
      const hours = trackForm.elements.hours.value;
      const start = new Date().toISOString();
      const url = C.root + "/orbits/satellites/" + encodeURIComponent(id) + "/track?start="
        + encodeURIComponent(start) + "&hours=" + encodeURIComponent(hours);
      try {
        const feature = await C.api("GET", url);
        const entry = M.maps["track-map"];
        await entry.loaded;
        M.setLayer(entry.map, "track", feature, "#D55E00");
        M.fit(entry.map, feature);
        const name = trackForm.elements.norad_id.selectedOptions[0].textContent;
        document.getElementById("track-info").textContent = t("js.track.shown", { name, hours });
        window.sathubTrack = feature;
      } catch (err) {
        problem.textContent = err.message;
        problem.hidden = false;
      }
    });
  }

  /* ---------------------------------------------------------------- opportunities */
  const oppForm = document.getElementById("opp-form");
  if (oppForm) {
    const section = document.getElementById("opp-results");
    const body = document.querySelector("#opp-table tbody");
    const status = document.getElementById("opp-status");

    function cell(row, text, cls) {
      const td = document.createElement("td");
      td.textContent = text;
      if (cls) td.className = cls;
      row.append(td);
      return td;
    }

    function utc(iso) {
      return t("js.time.utc", { when: iso.replace("T", " ").slice(0, 16) });
    }

    async function order(opp, button) {
      const aoi = JSON.parse(oppForm.elements.aoi.value);
      const payload = { aoi, start: opp.start, end: opp.end, satellites: [opp.norad_id],
        priority: document.getElementById("opp-priority").value };
      button.disabled = true;
      try {
        const created = await C.api("POST", C.root + "/orbits/orders", payload,
          { csrf: oppForm.elements.csrf.value });
        status.replaceChildren();
        const link = document.createElement("a");
        link.href = C.root + "/console/orders";
        link.textContent = t("js.opp.ordered", { id: created.id });
        status.append(link);
        button.textContent = t("js.opp.done");
      } catch (err) {
        status.textContent = err.message;
        button.disabled = false;
      }
    }

    oppForm.addEventListener("console:done", async (e) => {
      const opps = (e.detail && e.detail.opportunities) || [];
      body.replaceChildren();
      section.hidden = false;
      status.textContent = t("js.opp.found", { n: opps.length });
      for (const opp of opps) {
        const row = document.createElement("tr");
        cell(row, opp.satellite + " (" + opp.norad_id + ")");
        cell(row, opp.sensor);
        cell(row, utc(opp.start));
        cell(row, (opp.coverage_fraction * 100).toFixed(1) + " %", "num");
        cell(row, opp.off_nadir_deg.toFixed(1) + "°", "num");
        cell(row, opp.feasible ? t("js.yes") : t("js.no"));
        const td = cell(row, "");
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = t("js.opp.order");
        button.setAttribute("aria-label", t("js.opp.order_n", { name: opp.satellite, when: utc(opp.start) }));
        button.addEventListener("click", () => order(opp, button));
        td.append(button);
        body.append(row);
      }
      const entry = M.maps["opp-form-map"];
      if (entry) {
        await entry.loaded;
        M.setLayer(entry.map, "footprints", { type: "FeatureCollection", features: opps
          .filter((o) => o.footprint).map((o) => ({ type: "Feature", geometry: o.footprint, properties: {} })) },
          "#009E73");
      }
      document.getElementById("opp-results-title").focus();
    });
  }
})();
