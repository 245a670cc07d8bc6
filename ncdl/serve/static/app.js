// The ncdl preview page: fetch /api/state, draw it, refetch on each /events message.
"use strict";

const view = { model: "", depth: "auto", expand: new Set() };
let latest = 0; // the newest file version drawn
let issued = 0; // requests sent; only the answer to the last one is drawn

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

async function refresh() {
  const mine = ++issued;
  const q = new URLSearchParams({ model: view.model, depth: view.depth });
  for (const p of view.expand) q.append("expand", p);
  const response = await fetch("/api/state?" + q.toString(), { cache: "no-store" });
  const state = await response.json();
  if (mine !== issued) return; // a newer request (another view, or a newer file) is on its way
  latest = state.version;
  view.model = state.model;
  draw(state);
  document.body.dataset.version = String(state.version);
}

function draw(state) {
  document.getElementById("file").textContent = state.file;
  document.title = state.file + " — ncdl preview";
  const errors = state.diagnostics.filter((d) => d.severity === "error").length;
  const warnings = state.diagnostics.length - errors;
  const status = document.getElementById("status");
  status.className = "status" + (errors ? " bad" : warnings ? " warn" : "");
  status.textContent = errors ? `${errors} error${errors > 1 ? "s" : ""}` : warnings ? `${warnings} warning${warnings > 1 ? "s" : ""}` : "ok";
  status.dataset.errors = String(errors);

  const select = document.getElementById("model");
  select.replaceChildren(...state.models.map((m) => el("option", { value: m }, m)));
  select.value = state.model;
  document.getElementById("depth").value = state.depth;

  const diagram = document.getElementById("diagram");
  if (state.svg) {
    diagram.innerHTML = state.svg;
    markClickable(diagram);
  } else {
    diagram.replaceChildren(el("div", { class: "message" }, state.error || "nothing to draw"));
  }

  const list = document.getElementById("diagnostics");
  if (state.diagnostics.length === 0) {
    list.replaceChildren(el("li", { class: "none" }, "no diagnostics"));
  } else {
    list.replaceChildren(...state.diagnostics.map((d) => {
      const item = el("li", { class: d.severity, "data-code": d.code });
      item.append(el("pre", {}, d.text));
      return item;
    }));
  }
  drawStats(state.stats);
}

function drawStats(stats) {
  const box = document.getElementById("stats");
  if (!stats) {
    box.replaceChildren(el("p", {}, "no stats while the model has errors"));
    return;
  }
  const totals = el("table", { id: "totals" });
  const rows = [["parameters", stats.params.toLocaleString()], ["forward FLOPs", stats.flops], ["activation bytes", stats.activation_bytes]];
  if (stats.free_axes.length) rows.push(["free axes", stats.free_axes.join(", ")]);
  for (const [k, v] of rows) {
    const tr = el("tr");
    tr.append(el("th", {}, k), el("td", { class: "num" }, v));
    totals.append(tr);
  }
  const table = el("table", { id: "circuits" });
  const head = el("tr");
  for (const h of ["instance", "circuit", "params", "FLOPs", "activations"]) head.append(el("th", {}, h));
  table.append(head);
  for (const r of stats.circuits) {
    const tr = el("tr");
    tr.append(el("td", {}, r.path), el("td", {}, r.circuit), el("td", { class: "num" }, r.params.toLocaleString()),
      el("td", { class: "num" }, r.flops), el("td", { class: "num" }, r.activation_bytes));
    table.append(tr);
  }
  box.replaceChildren(totals, el("h2", {}, "Per circuit instance"), table);
}

// Graphviz names a closed circuit's node "box PATH" and an open circuit's frame "cluster PATH".
function markClickable(root) {
  for (const g of root.querySelectorAll("g.node, g.cluster")) {
    const title = g.querySelector(":scope > title");
    if (!title) continue;
    const name = title.textContent;
    if (name.startsWith("box ")) {
      g.classList.add("circuit");
      g.dataset.path = name.slice(4);
      g.addEventListener("click", () => { view.expand.add(g.dataset.path); refresh(); });
    } else if (name.startsWith("cluster ") && view.expand.has(name.slice(8))) {
      g.classList.add("open");
      g.dataset.path = name.slice(8);
      g.addEventListener("click", (e) => {
        if (e.target.closest("g.node")) return;
        view.expand.delete(g.dataset.path);
        refresh();
      });
    }
  }
}

document.getElementById("model").addEventListener("change", (e) => { view.model = e.target.value; view.expand.clear(); refresh(); });
document.getElementById("depth").addEventListener("change", (e) => { view.depth = e.target.value; refresh(); });
document.getElementById("collapse").addEventListener("click", () => { view.expand.clear(); refresh(); });

const events = new EventSource("/events");
events.onmessage = (e) => { if (Number(e.data) > latest) refresh(); };
refresh();
