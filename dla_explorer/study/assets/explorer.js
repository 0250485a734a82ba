// The report's design explorer (runs offline: plotly is embedded in the page, the data sits in
// <script id="explorer-data">). One state: the objective pair, the constraint ranges (set by the
// sliders or by brushing the parallel coordinates; both write the same ranges) and the design
// shown in the drill-down. Every view is redrawn from that state.
"use strict";

// Okabe-Ito: a palette that stays distinct under the common colour-vision deficiencies
const PALETTE = {
  blue: "#0072B2", orange: "#E69F00", sky: "#56B4E9", green: "#009E73",
  vermillion: "#D55E00", purple: "#CC79A7", yellow: "#F0E442", grey: "#999999", black: "#000000",
};

function fmt(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (typeof value === "boolean") return value ? "yes" : "";
  if (typeof value !== "number") return String(value);
  const abs = Math.abs(value);
  if (abs >= 100) return value.toLocaleString("en-US", { maximumFractionDigits: 0 });
  if (abs >= 1 || abs === 0) return value.toLocaleString("en-US", { maximumFractionDigits: 2 });
  return value.toPrecision(3);
}

function pct(value) {
  return value === null || Number.isNaN(value) ? "–" : (100 * value).toFixed(1) + "%";
}

// -- sortable tables: click a header to sort by it, again to reverse ---------------------------
function makeSortable(table) {
  table.querySelectorAll("th").forEach((th, column) => {
    th.title = "click to sort";
    th.addEventListener("click", () => {
      const body = table.tBodies[0];
      const rows = Array.from(body.rows);
      const up = th.dataset.order !== "asc";
      table.querySelectorAll("th").forEach((h) => delete h.dataset.order);
      th.dataset.order = up ? "asc" : "desc";
      const key = (row) => {
        const cell = row.cells[column];
        const raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent;
        const number = parseFloat(raw);
        return Number.isNaN(number) || cell.dataset.value === undefined ? raw : number;
      };
      rows.sort((a, b) => {
        const ka = key(a), kb = key(b);
        const order = typeof ka === "number" && typeof kb === "number" ? ka - kb : String(ka).localeCompare(String(kb));
        return up ? order : -order;
      });
      rows.forEach((row) => body.appendChild(row));
    });
  });
}

function initExplorer() {
  const source = document.getElementById("explorer-data");
  if (!source) return;
  const data = JSON.parse(source.textContent);
  const D = data.designs;
  const ID = data.id_label || "trial"; // a sweep's designs are its grid points, a search's its trials
  const idTitle = ID.charAt(0).toUpperCase() + ID.slice(1);
  const n = D.trial.length;
  const metric = Object.fromEntries(data.metrics.map((m) => [m.key, m]));
  const label = (key) => {
    if (metric[key]) return metric[key].label + (metric[key].unit ? ` (${metric[key].unit})` : "");
    return key;
  };
  const isShare = (key) => metric[key] && metric[key].unit.startsWith("share");
  const show = (key, value) => (isShare(key) ? pct(value) : fmt(value));

  const state = {
    x: data.objectives[1] && data.objectives[0] ? data.objectives[1] : data.metrics[0].key,
    y: data.objectives[0] || data.metrics[1].key,
    ranges: { feasible: [[0.5, 1.5]] }, // dimension key -> list of [lo, hi]
    selected: null,
    coloured: null,
  };
  if (!metric[state.x]) state.x = data.metrics[0].key;
  if (!metric[state.y]) state.y = data.metrics[1].key;

  // -- objective menus ---------------------------------------------------------------------------
  for (const [id, key] of [["x-metric", "x"], ["y-metric", "y"]]) {
    const select = document.getElementById(id);
    data.metrics.forEach((m) => select.add(new Option(label(m.key), m.key)));
    select.value = state[key];
    select.addEventListener("change", () => { state[key] = select.value; render(); });
  }
  const infeasible = document.getElementById("show-infeasible");

  // -- parallel coordinates: every parameter and the main metrics, brushable --------------------
  const parDims = [...data.params, ...data.metrics.map((m) => m.key)].filter(
    (k) => !["latency_ms", "energy_mj", "memory_bound_share", "utilization"].includes(k) || data.objectives.includes(k)
  );
  const feasibleNumbers = D.feasible.map((f) => (f ? 1 : 0));
  const dimensions = [
    ...parDims.map((k) => ({ label: k in metric ? metric[k].label : k, values: D[k], key: k })),
    { label: "feasible", values: feasibleNumbers, key: "feasible", tickvals: [0, 1], ticktext: ["no", "yes"], range: [0, 1] },
  ];
  const parEl = document.getElementById("parcoords");
  Plotly.newPlot(parEl, [{
    type: "parcoords",
    line: { color: D[state.y], colorscale: "Viridis", showscale: true, colorbar: { title: { text: metric[state.y].label } } },
    dimensions: dimensions.map((d) => {
      const out = { label: d.label, values: d.values };
      if (d.tickvals) Object.assign(out, { tickvals: d.tickvals, ticktext: d.ticktext, range: d.range });
      if (state.ranges[d.key]) out.constraintrange = state.ranges[d.key][0];
      return out;
    }),
  }], { margin: { l: 60, r: 60, t: 60, b: 30 }, font: { size: 11 } }, { displaylogo: false, responsive: true });

  function readBrushes() {
    const ranges = {};
    parEl.data[0].dimensions.forEach((dim, i) => {
      const range = dim.constraintrange;
      if (!range || range.length === 0) return;
      ranges[dimensions[i].key] = Array.isArray(range[0]) ? range : [range];
    });
    state.ranges = ranges;
    infeasible.checked = !ranges.feasible || ranges.feasible.some(([lo]) => lo <= 0);
    syncSliders();
    render();
  }
  // only brushing changes the ranges: other restyles (the line colour) must not loop back here
  parEl.on("plotly_restyle", (event) => {
    const update = (event && event[0]) || {};
    if (Object.keys(update).some((k) => k.includes("constraintrange"))) readBrushes();
  });

  function setRange(key, range) {
    const i = dimensions.findIndex((d) => d.key === key);
    if (range) state.ranges[key] = [range]; else delete state.ranges[key];
    if (i >= 0) Plotly.restyle(parEl, { [`dimensions[${i}].constraintrange`]: [range || null] }, [0]);
    else render();
  }
  infeasible.addEventListener("change", () => setRange("feasible", infeasible.checked ? null : [0.5, 1.5]));

  // -- constraint sliders (a bound on one metric each) --------------------------------------------
  const sliderBox = document.getElementById("sliders");
  const sliders = {};
  for (const key of data.sliders) {
    const values = D[key].filter((v) => v !== null);
    if (!values.length) continue;
    const lo = Math.min(...values), hi = Math.max(...values);
    if (!(hi > lo)) continue;
    const upper = metric[key].better === "min"; // a cap for what should be low, a floor otherwise
    const row = document.createElement("label");
    row.className = "slider";
    const input = document.createElement("input");
    Object.assign(input, { type: "range", min: lo, max: hi, step: (hi - lo) / 200, id: `slider-${key}` });
    input.value = upper ? hi : lo;
    const text = document.createElement("span");
    const name = isShare(key) ? `${metric[key].label} (%)` : label(key);
    row.append(`${upper ? "max" : "min"} ${name} `, input, text);
    sliderBox.appendChild(row);
    let pending = null;
    const update = () => {
      text.textContent = (upper ? "≤ " : "≥ ") + show(key, +input.value);
      // redraw once the slider rests: the parallel coordinates redraw slowly without a GPU
      clearTimeout(pending);
      pending = setTimeout(() => {
        const open = upper ? +input.value >= hi : +input.value <= lo;
        setRange(key, open ? null : upper ? [lo - 1e-9, +input.value] : [+input.value, hi + 1e-9]);
      }, 150);
    };
    input.addEventListener("input", update);
    sliders[key] = { input, text, lo, hi, upper };
    text.textContent = upper ? "(no cap)" : "(no floor)";
  }
  function syncSliders() {
    for (const [key, s] of Object.entries(sliders)) {
      const range = state.ranges[key];
      const value = !range ? (s.upper ? s.hi : s.lo) : s.upper ? Math.max(...range.map((r) => r[1])) : Math.min(...range.map((r) => r[0]));
      s.input.value = value;
      s.text.textContent = range ? (s.upper ? "≤ " : "≥ ") + show(key, value) : s.upper ? "(no cap)" : "(no floor)";
    }
  }

  function passes(i) {
    for (const [key, ranges] of Object.entries(state.ranges)) {
      const value = key === "feasible" ? feasibleNumbers[i] : D[key][i];
      if (value === null || !ranges.some(([lo, hi]) => value >= lo && value <= hi)) return false;
    }
    return true;
  }

  // the Pareto front of the chosen pair among the designs shown (feasible ones only)
  function front(indices) {
    const sx = metric[state.x].better === "max" ? -1 : 1, sy = metric[state.y].better === "max" ? -1 : 1;
    const points = indices.filter((i) => D[state.x][i] !== null && D[state.y][i] !== null)
      .map((i) => [sx * D[state.x][i], sy * D[state.y][i], i])
      .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const out = [];
    let best = Infinity;
    for (const [, cy, i] of points) if (cy < best) { out.push(i); best = cy; }
    return out;
  }

  // -- the scatter of the chosen pair ---------------------------------------------------------------
  const scatterEl = document.getElementById("scatter");
  function hover(i) {
    const lines = [`<b>${ID} ${D.trial[i]}</b>${D.front[i] ? " (on the front)" : ""}`];
    for (const k of data.texts) lines.push(`${k}: ${D[k][i]}`);
    lines.push(data.params.map((k) => `${k} ${fmt(D[k][i])}`).join(", "));
    for (const m of data.metrics.slice(0, 6)) lines.push(`${m.label}: ${show(m.key, D[m.key][i])} ${isShare(m.key) ? "" : m.unit}`);
    if (!D.feasible[i]) lines.push(`<i>infeasible: ${D.violation[i] || "constraint"}</i>`);
    return lines.join("<br>");
  }
  function trace(indices, name, marker, extra = {}) {
    return {
      type: "scatter", mode: "markers", name,
      x: indices.map((i) => D[state.x][i]), y: indices.map((i) => D[state.y][i]),
      customdata: indices, text: indices.map(hover), hovertemplate: "%{text}<extra></extra>", marker, ...extra,
    };
  }

  function render() {
    const shown = [], hidden = [], bad = [];
    for (let i = 0; i < n; i++) {
      if (!passes(i)) hidden.push(i);
      else if (D.feasible[i]) shown.push(i);
      else bad.push(i);
    }
    const onFront = front(shown);
    const frontSet = new Set(onFront);
    const traces = [
      trace(hidden, "outside the constraints", { color: "#dddddd", size: 6 }),
      trace(shown.filter((i) => !frontSet.has(i)), "feasible designs", { color: PALETTE.grey, size: 7 }),
      trace(bad, "infeasible (over the device)", { color: PALETTE.vermillion, symbol: "x", size: 7 }),
      trace(onFront, `Pareto front (${onFront.length})`, { color: PALETTE.blue, size: 9 }, { mode: "lines+markers", line: { color: PALETTE.blue } }),
    ];
    if (state.selected !== null) {
      traces.push(trace([state.selected], `${ID} ${D.trial[state.selected]}`, { color: PALETTE.orange, size: 18, symbol: "star", line: { color: "black", width: 1 } }));
    }
    Plotly.react(scatterEl, traces, {
      xaxis: { title: { text: label(state.x) }, zeroline: false, tickformat: isShare(state.x) ? ".0%" : "" },
      yaxis: { title: { text: label(state.y) }, zeroline: false, tickformat: isShare(state.y) ? ".0%" : "" },
      margin: { l: 70, r: 20, t: 30, b: 60 }, hovermode: "closest",
      legend: { orientation: "h", y: 1.08, x: 0 },
    }, { displaylogo: false, responsive: true });
    document.getElementById("shown-count").textContent =
      `${shown.length} of ${n} designs within the constraints, ${onFront.length} on the front of ${metric[state.y].label} against ${metric[state.x].label}`;
    if (state.coloured !== state.y) { // colour the lines by the y objective
      state.coloured = state.y;
      Plotly.restyle(parEl, { "line.color": [D[state.y]], "line.colorbar.title.text": metric[state.y].label }, [0]);
    }
    renderFrontTable(onFront);
  }

  // -- the front of the current view as a sortable table; a row click opens its drill-down ----------
  // mode only when the designs differ in it (a sweep of dense and packed): else one value repeated
  const tableColumns = ["trial", ...data.texts.filter((k) => k !== "mode" || new Set(D.mode).size > 1), ...data.params, ...data.metrics.map((m) => m.key)];
  function renderFrontTable(indices) {
    const table = document.getElementById("front-table");
    document.getElementById("front-count").textContent = `${indices.length} designs`;
    const head = tableColumns.map((k) => `<th>${k in metric ? label(k) : k === "trial" ? ID : k}</th>`).join("");
    const rows = indices.map((i) => `<tr data-index="${i}">` + tableColumns.map((k) => {
      const v = D[k][i];
      return typeof v === "number" ? `<td data-value="${v}">${show(k, v)}</td>` : `<td class="text">${v}</td>`;
    }).join("") + "</tr>").join("");
    table.innerHTML = `<thead><tr>${head}</tr></thead><tbody>${rows}</tbody>`;
    makeSortable(table);
    table.querySelectorAll("tbody tr").forEach((row) => row.addEventListener("click", () => select(+row.dataset.index)));
  }

  // -- the drill-down of one design -----------------------------------------------------------------
  function select(i) {
    state.selected = i;
    render();
    const trial = D.trial[i];
    const drill = data.drill[String(trial)];
    const box = document.getElementById("drill");
    box.dataset.trial = trial;
    const status = D.feasible[i] ? (D.front[i] ? "feasible, on the front" : "feasible") : `infeasible: ${D.violation[i]}`;
    document.getElementById("drill-title").textContent = `${idTitle} ${trial} (${status})`;
    const config = [...data.texts, ...data.params].map((k) => `<tr><th>${k}</th><td id="drill-${k}" data-value="${D[k][i]}">${fmt(D[k][i])}</td></tr>`);
    const fixed = Object.entries(data.fixed).map(([k, v]) => `<tr><th>${k}</th><td>${fmt(v)} (every design)</td></tr>`);
    const figures = data.metrics.map((m) => `<tr><th>${label(m.key)}</th><td id="drill-${m.key}" data-value="${D[m.key][i]}">${show(m.key, D[m.key][i])}</td></tr>`);
    document.getElementById("drill-summary").innerHTML =
      `<table><tbody>${config.join("")}${fixed.join("")}</tbody></table><table><tbody>${figures.join("")}</tbody></table>`;
    const charts = ["drill-time", "drill-traffic", "drill-util"];
    if (!drill) {
      charts.forEach((id) => Plotly.purge(id));
      document.getElementById("drill-note").textContent = "No per-layer drill-down stored for this design (see the note above).";
    } else {
      document.getElementById("drill-note").textContent = "";
      const layers = data.layers[drill.model];
      const names = layers.names.map((name, j) => (layers.kinds[j] === "depthwise" ? `${name} (dw)` : name));
      const axis = { tickangle: -60, tickfont: { size: 9 }, automargin: true, type: "category" };
      const layout = (title, ytitle, extra = {}) => ({
        title: { text: title, font: { size: 13 } }, xaxis: axis, yaxis: { title: { text: ytitle } },
        margin: { l: 60, r: 10, t: 40, b: 10 }, legend: { orientation: "h", y: 1.12, x: 0.5 }, ...extra,
      });
      const total = drill.time_us.reduce((a, b) => a + b, 0);
      Plotly.react("drill-time", [
        { type: "bar", name: "compute", x: names, y: drill.compute_us, marker: { color: PALETTE.blue } },
        { type: "bar", name: "memory (DRAM transfer)", x: names, y: drill.memory_us, marker: { color: PALETTE.orange } },
      ], layout(`Per-layer time, compute vs memory: ${fmt(total / 1000)} ms per frame (double-buffered: the longer counts; (dw) = depthwise)`, "µs", { barmode: "group" }), { displaylogo: false, responsive: true });
      Plotly.react("drill-traffic", [
        { type: "bar", name: "weights and packing metadata", x: names, y: drill.weight_kb, marker: { color: PALETTE.green } },
        { type: "bar", name: "feature maps (spilled, compressed)", x: names, y: drill.act_kb, marker: { color: PALETTE.purple } },
      ], layout("DRAM traffic per layer", "KB per frame", { barmode: "stack" }), { displaylogo: false, responsive: true });
      Plotly.react("drill-util", [
        { type: "bar", name: "before packing (sparse weights, dense schedule)", x: names, y: drill.util_before, marker: { color: PALETTE.grey } },
        { type: "bar", name: "after packing", x: names, y: drill.util_after, marker: { color: PALETTE.green } },
      ], layout("MAC utilisation per layer, before and after packing", "useful MACs / issued MAC slots", { barmode: "group", yaxis: { range: [0, 1.05], title: { text: "utilisation" } } }), { displaylogo: false, responsive: true });
    }
    const resources = ["dsp_share", "m20k_share", "alm_share"].filter((k) => D[k]);
    Plotly.react("drill-resources", [{
      type: "bar", orientation: "h", y: resources.map((k) => metric[k].label), x: resources.map((k) => 100 * D[k][i]),
      text: resources.map((k) => pct(D[k][i])), textposition: "auto",
      marker: { color: resources.map((k) => (D[k][i] > 1 ? PALETTE.vermillion : PALETTE.sky)) },
    }], {
      title: { text: `Resources as a share of the ${data.device.name}`, font: { size: 13 } },
      xaxis: { title: { text: "% of the device" }, range: [0, Math.max(110, ...resources.map((k) => 105 * D[k][i]))] },
      shapes: [{ type: "line", x0: 100, x1: 100, yref: "paper", y0: 0, y1: 1, line: { dash: "dash", color: "black" } }],
      margin: { l: 60, r: 20, t: 40, b: 40 }, height: 220,
    }, { displaylogo: false, responsive: true });
    box.scrollIntoView({ behavior: "auto", block: "start" });
  }

  render();
  scatterEl.on("plotly_click", (event) => {
    const point = event.points.find((p) => p.customdata !== undefined);
    if (point) select(point.customdata);
  });
  window.dlaExplorer = { state, select, render, setRange, data }; // for tests and the console
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.sortable").forEach(makeSortable);
  initExplorer();
});
