// A job's live page: events pushed by /jobs/<id>/events (Server-Sent Events) drawn as they
// come: the progress bar with step and ETA, the loss and metric curves (plain SVG), each
// epoch's metrics, the log's last lines. The page comes with the events so far (drawn at once);
// the stream sends the rest. When the job ends, the page reloads to its final state.
"use strict";
(function () {
  const root = document.getElementById("job");
  if (!root) return;
  const S = JSON.parse(document.getElementById("job-strings").textContent);
  const startedEnded = root.dataset.ended === "true";  // the page shows a job that had ended
  const $ = (id) => document.getElementById(id);
  const fill = (text, values) => text.replace(/\{(\w+)\}/g, (_, k) => values[k] ?? "");
  const SKIP = new Set(["loss", "runtime", "samples_per_second", "steps_per_second", "selection"]);
  let train = [], evals = [], begin = null, last = null, total = 0, ended = false, queued = false;

  function add(ev) {
    if (ev.event === "begin") {  // a resumed run redoes the steps after its checkpoint
      begin = ev; last = null; total = ev.max_steps || total;
      train = train.filter((p) => p.step <= ev.step);
      evals = evals.filter((p) => p.step <= ev.step);
    } else if (ev.event === "log") {
      train.push(ev); last = ev;
    } else if (ev.event === "eval") {
      evals.push(ev);
    } else if (ev.event === "end") {
      ended = true; total = ev.step;  // early stopping ends before the planned total
      last = { ...(last || {}), step: ev.step };
    }
    $("job-progress-section").hidden = false;
    if (!queued) { queued = true; requestAnimationFrame(draw); }
  }

  function draw() {
    queued = false;
    const step = Math.max(last ? last.step : 0, evals.length ? evals[evals.length - 1].step : 0);
    const share = total ? Math.min(1, step / total) : 0;
    const bar = $("job-progress");
    bar.dataset.step = step; bar.dataset.total = total;
    bar.setAttribute("aria-valuenow", Math.round(share * 100));
    bar.firstElementChild.style.width = (share * 100).toFixed(1) + "%";
    let text = total ? fill(S.step, { step, total }) : S.waiting_first_step;
    if (startedEnded) { /* the job is over: no estimate */ }
    else if (ended) text += " · " + S.finishing;
    else if (begin && last && last.step > begin.step && last.seconds > 0) {
      const left = ((total - last.step) * last.seconds) / (last.step - begin.step);
      text += " · " + fill(S.eta, { time: duration(left) });
    }
    $("job-step").textContent = text;
    const val = evals.filter((e) => "eval_loss" in e.metrics).map((e) => ({ x: e.step, y: e.metrics.eval_loss }));
    chart($("job-chart-loss"), [
      { name: S.train_loss, points: train.map((p) => ({ x: p.step, y: p.loss })), dots: false },
      { name: S.val_loss, points: val, dots: true },
    ], total);
    chart($("job-chart-metrics"), metricNames().map((key) => ({
      name: S.metrics[key] || key, dots: true,
      points: evals.filter((e) => "eval_" + key in e.metrics).map((e) => ({ x: e.step, y: e.metrics["eval_" + key] })),
    })), total, true);
    table();
  }

  function metricNames() {
    if (begin && Array.isArray(begin.metrics)) return begin.metrics;  // the task's headline ones
    const names = [];
    for (const e of evals) for (const k of Object.keys(e.metrics)) {
      const name = k.replace(/^eval_/, "");
      if (!SKIP.has(name) && !names.includes(name)) names.push(name);
    }
    return names;
  }

  function duration(seconds) {
    if (!isFinite(seconds) || seconds < 0) return "";
    return seconds >= 90 ? fill(S.eta_min, { n: Math.round(seconds / 60) }) : fill(S.eta_sec, { n: Math.round(seconds) });
  }

  const COLOURS = ["#3b6ea5", "#d9822b", "#1e7b34", "#b00020", "#7a4fb5", "#555"];
  const NS = "http://www.w3.org/2000/svg";

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function chart(svg, series, xmax, shares) {
    series = series.map((s) => ({ ...s, points: s.points.filter((p) => p.y !== undefined && isFinite(p.y)) }));
    svg.replaceChildren();
    const all = series.flatMap((s) => s.points);
    if (!all.length) {
      svg.appendChild(el("text", { x: 240, y: 120, "text-anchor": "middle", fill: "#666" }, S.no_points));
      return;
    }
    const W = 480, H = 240, L = 44, R = 10, T = 26, B = 24;
    let lo = Math.min(...all.map((p) => p.y)), hi = Math.max(...all.map((p) => p.y));
    if (shares && lo >= 0 && hi <= 1) { lo = 0; hi = 1; }  // accuracy, F1...: the whole scale
    if (hi - lo < 1e-9) { hi += 0.5; lo -= 0.5; }
    const xm = Math.max(xmax || 0, ...all.map((p) => p.x), 1);
    const X = (x) => L + (x / xm) * (W - L - R), Y = (y) => T + (1 - (y - lo) / (hi - lo)) * (H - T - B);
    svg.appendChild(el("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#999" }));
    svg.appendChild(el("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#999" }));
    const digits = Math.min(6, Math.max(2, 1 - Math.floor(Math.log10(hi - lo))));  // ticks that differ
    for (const y of [lo, (lo + hi) / 2, hi]) {
      svg.appendChild(el("text", { x: L - 4, y: Y(y) + 4, "text-anchor": "end", "font-size": 11, fill: "#666" }, y.toFixed(digits)));
    }
    svg.appendChild(el("text", { x: W - R, y: H - 6, "text-anchor": "end", "font-size": 11, fill: "#666" }, xm));
    let legend = L + 6;
    series.forEach((s, i) => {
      const colour = COLOURS[i % COLOURS.length];
      if (!s.points.length) return;
      const path = s.points.map((p) => `${X(p.x).toFixed(1)},${Y(p.y).toFixed(1)}`).join(" ");
      svg.appendChild(el("polyline", { points: path, fill: "none", stroke: colour, "stroke-width": 2, "data-series": s.name }));
      if (s.dots) for (const p of s.points) svg.appendChild(el("circle", { cx: X(p.x), cy: Y(p.y), r: 3, fill: colour }));
      svg.appendChild(el("text", { x: legend, y: 14, "font-size": 12, fill: colour }, "● " + s.name));
      legend += 24 + [...s.name].reduce((w, c) => w + (c.charCodeAt(0) > 255 ? 12 : 7), 0);
    });
  }

  function table() {
    const names = ["loss", ...metricNames()];
    const head = $("job-epochs").tHead, body = $("job-epochs").tBodies[0];
    head.replaceChildren(row("th", [S.epoch, S.val_loss, ...names.slice(1).map((n) => S.metrics[n] || n)]));
    body.replaceChildren(...evals.map((e) => {
      const cells = names.map((n) => e.metrics["eval_" + n]);
      const tr = row("td", [e.epoch == null ? "" : +e.epoch.toFixed(2), ...cells.map((v) => (v == null ? "" : v.toFixed(4)))]);
      tr.dataset.epoch = e.epoch;
      return tr;
    }));
  }

  function row(tag, cells) {
    const tr = document.createElement("tr");
    for (const c of cells) { const td = document.createElement(tag); td.textContent = c; tr.appendChild(td); }
    return tr;
  }

  // what the page came with, drawn in one go; a job that had ended needs nothing more
  $("job-log").scrollTop = $("job-log").scrollHeight;  // the latest lines (an error) in view
  const initial = JSON.parse($("job-events").textContent);
  initial.forEach(add);
  if (startedEnded) return;
  const id = encodeURIComponent(root.dataset.jobId);
  const source = new EventSource(`/jobs/${id}/events?after=${initial.length}`);
  source.addEventListener("progress", (e) => add(JSON.parse(e.data)));
  source.addEventListener("log", (e) => {
    const lines = JSON.parse(e.data).lines;
    const log = $("job-log");
    const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    if (lines.length) log.textContent = lines.join("\n");
    if (atEnd) log.scrollTop = log.scrollHeight;
  });
  source.addEventListener("state", (e) => {
    const state = JSON.parse(e.data);
    if (state.state !== root.dataset.state && !state.ended) location.reload();  // queued -> running
    const note = $("job-cancelling");
    if (note) note.hidden = !state.cancelling;
  });
  source.addEventListener("end", () => {
    source.close();
    location.reload();  // the final state, with the run's link or the error
  });
})();
