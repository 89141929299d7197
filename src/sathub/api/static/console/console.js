/* sathub console: forms that post JSON to the API's own routes (with the session's CSRF
   token), confirmation of destructive actions, errors shown next to the field the API names,
   job progress. Every string a person reads comes from the page's message catalog (t()). */
(function () {
  "use strict";

  const messages = JSON.parse(document.getElementById("console-messages").textContent);
  const rootMeta = document.querySelector("meta[name=console-root]");
  const root = rootMeta ? rootMeta.content : "";
  const csrfMeta = document.querySelector("meta[name=csrf-token]");
  const errors = [];
  window.addEventListener("error", (e) => errors.push(String(e.message)));
  window.addEventListener("unhandledrejection", (e) => errors.push(String(e.reason)));

  function t(key, params) {
    let text = Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : key;
    for (const [k, v] of Object.entries(params || {})) {
      text = text.split("{" + k + "}").join(String(v));
    }
    return text;
  }

  function csrfOf(form) {
    const field = form && form.querySelector("input[name=csrf]");
    return (field && field.value) || (csrfMeta ? csrfMeta.content : "");
  }

  /* One request to the API as the signed-in session: JSON in, JSON (or nothing) out. */
  async function api(method, url, payload, options) {
    const opts = options || {};
    const headers = { "Accept": "application/json" };
    let body;
    if (method !== "GET" && method !== "HEAD") {
      headers["X-CSRF-Token"] = opts.csrf || csrfOf(null);
      if (typeof payload === "string") {
        headers["Content-Type"] = "text/plain";
        body = payload;
      } else if (payload !== undefined) {
        headers["Content-Type"] = "application/json";
        body = JSON.stringify(payload);
      }
    }
    const response = await fetch(url, { method, headers, body, credentials: "same-origin" });
    const type = response.headers.get("content-type") || "";
    let data = null;
    if (type.includes("json")) {
      data = await response.json();
    } else if (response.status !== 204) {
      data = { text: await response.text() };
    }
    if (!response.ok) {
      const problem = new Error((data && data.description) || t("js.error.status", { status: response.status }));
      problem.status = response.status;
      problem.data = data || {};
      throw problem;
    }
    return data;
  }

  /* ------------------------------------------------------------------ form bodies */
  function whenHolds(form, scope) {
    const [name, value] = scope.dataset.when.split(":");
    const chosen = form.querySelector("[name='" + name + "']:checked") || form.elements[name];
    return Boolean(chosen) && value.split("|").includes(chosen.value);
  }

  function convert(el, raw) {
    const type = el.dataset.type || "str";
    if (type === "int") return /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
    if (type === "float") return raw.trim() !== "" && !isNaN(Number(raw)) ? Number(raw) : raw;
    if (type === "list") return raw.split(",").map((s) => s.trim()).filter((s) => s);
    if (type === "lines") return raw.split("\n").map((s) => s.trim()).filter((s) => s);
    if (type === "json") {
      try { return JSON.parse(raw); } catch (e) { return raw; }  // the API names what is wrong
    }
    return raw;
  }

  function formBody(form) {
    const out = {};
    let text = null;
    for (const el of form.elements) {
      if (!el.name || el.hasAttribute("data-skip") || el.disabled) continue;
      const scope = el.closest("[data-when]");
      if (scope && !whenHolds(form, scope)) {
        if (scope.dataset.else === "null") out[el.name] = null;
        continue;
      }
      if (el.type === "radio" && !el.checked) continue;
      if (el.type === "checkbox") { out[el.name] = el.checked; continue; }
      if (el.dataset.type === "text") { text = el.value; continue; }
      if (el.multiple) {
        const picked = Array.from(el.selectedOptions).map((o) => o.value);
        if (picked.length) out[el.name] = picked;
        else if (el.dataset.empty === "null") out[el.name] = null;
        else if (el.dataset.empty === "list") out[el.name] = [];
        continue;
      }
      if (el.value.trim() === "") {
        if (el.dataset.empty === "null") out[el.name] = null;
        continue;
      }
      out[el.name] = convert(el, el.value);
    }
    return text !== null ? text : out;
  }

  /* ------------------------------------------------------------------------ errors */
  function clearErrors(form) {
    for (const el of form.querySelectorAll("[data-error-for]")) { el.hidden = true; el.textContent = ""; }
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    const summary = form.querySelector(".form-error");
    if (summary) { summary.hidden = true; summary.textContent = ""; }
  }

  function showError(form, problem) {
    const data = problem.data || {};
    const list = data.errors && data.errors.length ? data.errors
      : [{ field: data.field, reason: problem.message }];
    const summary = form.querySelector(".form-error");
    if (summary) {
      summary.textContent = problem.message;
      summary.hidden = false;
      if (problem.status === 401) {
        const link = document.createElement("a");
        link.href = root + "/console/login?next=" + encodeURIComponent(location.pathname + location.search);
        link.textContent = t("js.sign_in_again");
        summary.append(" ", link);
      }
    }
    for (const e of list) {
      if (!e.field) continue;
      const name = String(e.field).split(".")[0];
      // a name may have a field per choice (data-when): the one shown
      const shown = (el) => !el.closest("[data-when][hidden]");
      const slot = [...form.querySelectorAll("[data-error-for='" + name + "']")].find(shown);
      const input = [...form.elements].find((el) => el.name === name && shown(el));
      if (slot) { slot.textContent = e.reason || problem.message; slot.hidden = false; }
      if (input) input.setAttribute("aria-invalid", "true");
    }
  }

  /* ---------------------------------------------------------------- confirmation */
  function confirmAction(text) {
    const dialog = document.getElementById("confirm");
    if (!dialog || typeof dialog.showModal !== "function") return Promise.resolve(false);
    document.getElementById("confirm-text").textContent = text;
    dialog.returnValue = "";
    const back = document.activeElement;  // focus returns where it was (keyboard users)
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => {
        if (back && back.focus) back.focus();
        resolve(dialog.returnValue === "yes");
      }, { once: true });
      dialog.showModal();
      dialog.querySelector("[data-answer=no]").focus();
    });
  }

  document.addEventListener("click", (e) => {
    const answer = e.target.closest && e.target.closest("#confirm [data-answer]");
    if (answer) document.getElementById("confirm").close(answer.dataset.answer);
  });

  /* ---------------------------------------------------------------- after success */
  function showKey(form, data) {
    const box = form.querySelector(".result");
    box.replaceChildren();
    const p = document.createElement("p");
    p.className = "notice";
    p.textContent = t("js.key_once");
    const code = document.createElement("code");
    code.className = "secret";
    code.textContent = data.key;
    code.tabIndex = 0;
    const done = document.createElement("button");
    done.type = "button";
    done.textContent = t("js.key_done");
    done.addEventListener("click", () => location.reload());
    box.append(p, code, " ", done);
    box.hidden = false;
    code.focus();
  }

  async function submit(form) {
    clearErrors(form);
    if (form.dataset.confirm && !(await confirmAction(form.dataset.confirm))) return;
    const [method, url] = form.dataset.api.split(" ");
    const buttons = form.querySelectorAll("button[type=submit]");
    buttons.forEach((b) => { b.disabled = true; });
    let data;
    try {
      data = await api(method, url, formBody(form), { csrf: csrfOf(form) });
    } catch (problem) {
      showError(form, problem);
      return;
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
    form.dispatchEvent(new CustomEvent("console:done", { detail: data, bubbles: true }));
    const after = form.dataset.after || "reload";
    if (after === "reload") location.reload();
    else if (after === "signin") location.assign(root + "/console/login");
    else if (after === "key") showKey(form, data);
    else if (after.startsWith("go:")) location.assign(after.slice(3));
  }

  document.addEventListener("submit", (e) => {
    const form = e.target;
    if (!form.matches || !form.matches("form[data-api]")) return;
    e.preventDefault();
    submit(form).catch((err) => errors.push(String(err)));
  });

  /* ------------------------------------------------------------------ job progress */
  const TERMINAL = ["succeeded", "failed", "cancelled"];

  function updateJob(el, job) {
    el.dataset.status = job.status;
    const status = el.querySelector("[data-job-status]");
    if (status) {
      status.textContent = t("js.job.status." + job.status);
      status.className = "status";
    status.classList.add("status-" + job.status);
    }
    const bar = el.querySelector("progress");
    if (bar) {
      const p = job.progress || {};
      bar.max = p.total || 1;
      bar.value = p.done || 0;
      bar.hidden = TERMINAL.includes(job.status);
    }
    el.dispatchEvent(new CustomEvent("console:job", { detail: job, bubbles: true }));
  }

  function watchJob(el) {
    if (el.dataset.watching) return;
    el.dataset.watching = "1";
    const tick = async () => {
      if (TERMINAL.includes(el.dataset.status)) return;
      try {
        const job = await api("GET", el.dataset.jobUrl);
        updateJob(el, job);
        if (TERMINAL.includes(job.status)) {
          if (el.hasAttribute("data-reload")) location.reload();
          return;
        }
      } catch (problem) {
        errors.push(String(problem));
        return;
      }
      setTimeout(tick, 1000);
    };
    setTimeout(tick, 500);
  }

  function watchJobs() {
    for (const el of document.querySelectorAll("[data-job-url]")) {
      if (!TERMINAL.includes(el.dataset.status)) watchJob(el);
    }
  }

  /* --------------------------------------------------------- fields shown by choice */
  function syncWhen(form) {
    for (const scope of form.querySelectorAll("[data-when]")) {
      scope.hidden = !whenHolds(form, scope);
    }
  }

  document.addEventListener("change", (e) => {
    const form = e.target.form;
    if (form && form.querySelector("[data-when]")) syncWhen(form);
  });

  document.addEventListener("DOMContentLoaded", () => {
    for (const form of document.querySelectorAll("form")) {
      if (form.querySelector("[data-when]")) syncWhen(form);
    }
    watchJobs();
  });

  window.sathubConsole = { t, api, root, errors, watchJob, updateJob, ready: true };
})();
