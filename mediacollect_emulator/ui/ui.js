// The emulator's inspection UI: polls the /_emulator JSON read-back and draws it.
// Everything that came from a client (metadata, messages, names) is set as text
// (textContent, createElementNS, setAttribute): nothing received is ever parsed as HTML.

const POLL_MS = 1000;
const SVG = "http://www.w3.org/2000/svg";
const COLOURS = {
  content: "#2e7d32", ad: "#f9a825", break: "#bdbdbd", pause: "#1565c0",
  buffer: "#c62828", error: "#6a1b9a", idle: "#9e9e9e", ended: "#424242",
};
const LABELS = {
  content: "content playing", ad: "ad playing", break: "ad break (between ads)", pause: "paused",
  buffer: "buffering", error: "stopped by an error", idle: "not started", ended: "ended (complete)",
};

let selected = decodeURIComponent(location.hash.slice(1)) || null;
let lastDetailKey = null;

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  return node;
}

function svg(tag, attrs, title) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  if (title) {
    const t = document.createElementNS(SVG, "title");
    t.textContent = title;
    node.appendChild(t);
  }
  return node;
}

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function clock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString();
}

function state(session) {
  if (!session.closed) return session.waiting_in_window ? `open (${session.waiting_in_window} waiting)` : "open";
  return `closed: ${session.closed_reason || ""}`;
}

function renderSessions(sessions) {
  document.getElementById("session-count").textContent = `(${sessions.length})`;
  const body = document.querySelector("#sessions tbody");
  const rows = [];
  for (const session of sessions.slice().reverse()) {
    const row = el("tr", null, { "data-sid": session.sid, "data-testid": "session-row" });
    if (session.sid === selected) row.classList.add("selected");
    row.append(
      el("td", clock(session.created_at)),
      el("td", session.media_name || session.media_id || "?", { title: session.media_id || "" }),
      el("td", session.accepted_events + (session.rejected_requests ? ` (+${session.rejected_requests} rejected)` : "")),
      el("td", `${session.kind === "downloaded" ? "offline batch, " : ""}${state(session)}`),
    );
    row.addEventListener("click", () => select(session.sid));
    rows.push(row);
  }
  body.replaceChildren(...rows);
}

function select(sid) {
  selected = sid;
  lastDetailKey = null;
  history.replaceState(null, "", `#${encodeURIComponent(sid)}`);
  for (const row of document.querySelectorAll("#sessions tbody tr")) {
    row.classList.toggle("selected", row.dataset.sid === sid);
  }
  refreshDetail();
}

function drawPlot(timeline) {
  const width = 960, left = 48, right = 12, top = 14, plotHeight = 170;
  const laneHeight = 16, lanes = ["state", "ads", "chapters"];
  const height = top + plotHeight + 24 + lanes.length * (laneHeight + 6) + 8;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "data-testid": "timeline-svg" },
    "Playhead over wall time, coloured by playback state");
  const events = timeline.events;
  if (!events.length) return root;
  const t0 = timeline.start_ts;
  const lastTs = Math.max(...events.map((e) => e.ts), t0 + 1);
  const maxPlayhead = Math.max(1, ...events.map((e) => e.playhead));
  const x = (ts) => left + ((ts - t0) / (lastTs - t0)) * (width - left - right);
  const y = (ph) => top + plotHeight - (ph / maxPlayhead) * plotHeight;

  // Axes and labels.
  root.appendChild(svg("line", { x1: left, y1: top, x2: left, y2: top + plotHeight, stroke: "#90a4ae" }));
  root.appendChild(svg("line", { x1: left, y1: top + plotHeight, x2: width - right, y2: top + plotHeight,
    stroke: "#90a4ae" }));
  const yLabel = svg("text", { x: 4, y: top + 10, "font-size": 10, fill: "#546e7a" });
  yLabel.textContent = `${maxPlayhead.toFixed(0)} s`;
  const xLabel = svg("text", { x: width - right - 60, y: top + plotHeight + 14, "font-size": 10, fill: "#546e7a" });
  xLabel.textContent = `${((lastTs - t0) / 1000).toFixed(1)} s`;
  const origin = svg("text", { x: 4, y: top + plotHeight, "font-size": 10, fill: "#546e7a" });
  origin.textContent = "0";
  root.append(yLabel, xLabel, origin);

  // Playhead line, one coloured piece per segment.
  const segments = svg("g", { "data-testid": "segments" });
  for (const s of timeline.segments) {
    segments.appendChild(svg("line", {
      x1: x(s.start_ts), y1: y(s.playhead_start), x2: x(s.end_ts), y2: y(s.playhead_end),
      stroke: COLOURS[s.kind] || "#000", "stroke-width": 3, "data-kind": s.kind, class: "segment",
    }, `${LABELS[s.kind] || s.kind}: ${((s.end_ts - s.start_ts) / 1000).toFixed(1)} s`));
  }
  root.appendChild(segments);

  // Pings as ticks on the time axis; other events as dots on the line.
  const marks = svg("g", { "data-testid": "marks" });
  for (const e of events) {
    if (e.eventType === "ping") {
      marks.appendChild(svg("line", { x1: x(e.ts), x2: x(e.ts), y1: top + plotHeight, y2: top + plotHeight + 6,
        stroke: "#455a64", class: "ping" }, `ping at ${((e.ts - t0) / 1000).toFixed(1)} s`));
    } else {
      marks.appendChild(svg("circle", { cx: x(e.ts), cy: y(e.playhead), r: 2.5, fill: "#263238",
        class: "event", "data-event-type": e.eventType },
        `${e.eventType} at ${((e.ts - t0) / 1000).toFixed(3)} s, playhead ${e.playhead}`));
    }
  }
  root.appendChild(marks);

  // Lanes: playback state, ads, chapters.
  let laneY = top + plotHeight + 24;
  const lane = (name, items, colour) => {
    const label = svg("text", { x: 4, y: laneY + 12, "font-size": 10, fill: "#546e7a" });
    label.textContent = name;
    root.appendChild(label);
    const group = svg("g", { "data-testid": `lane-${name}` });
    for (const item of items) {
      const end = item.end_ts ?? lastTs;
      const rect = svg("rect", { x: x(item.start_ts), y: laneY, width: Math.max(1, x(end) - x(item.start_ts)),
        height: laneHeight, fill: colour(item), "data-kind": item.kind || name, class: `lane-${name}` },
        item.title);
      group.appendChild(rect);
      if (item.name && x(end) - x(item.start_ts) > 40) {
        const text = svg("text", { x: x(item.start_ts) + 3, y: laneY + 12, "font-size": 10, fill: "#fff" });
        text.textContent = item.name;
        group.appendChild(text);
      }
    }
    root.appendChild(group);
    laneY += laneHeight + 6;
  };
  lane("state", timeline.segments.map((s) => ({ ...s, title: LABELS[s.kind] || s.kind })),
    (s) => COLOURS[s.kind] || "#000");
  lane("ads", timeline.ads.map((a) => ({ ...a, kind: "ad", title: `ad ${a.name} (${a.outcome})` })),
    () => COLOURS.ad);
  lane("chapters", timeline.chapters.map((c, i) => ({ ...c, kind: "chapter",
    index: i, title: `chapter ${c.name} (${c.outcome})` })), (c) => c.index % 2 ? "#00838f" : "#006064");
  return root;
}

function renderLegend() {
  const legend = document.getElementById("legend");
  legend.replaceChildren(...Object.entries(LABELS).map(([kind, label]) => {
    const item = el("li", null);
    const swatch = el("span", null);
    swatch.style.background = COLOURS[kind];
    item.append(swatch, document.createTextNode(label));
    return item;
  }));
}

function formatValue(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (Array.isArray(value)) return value.length ? value.join(", ") : "–";
  if (typeof value === "object") return Object.entries(value).map(([k, v]) => `${k}%: ${v ? "yes" : "no"}`).join(", ");
  return String(value);
}

function renderDetail(detail) {
  document.getElementById("detail").hidden = false;
  document.getElementById("sid").textContent = detail.sid;
  document.getElementById("summary").textContent =
    `${detail.media_name || detail.media_id || "?"} · ${detail.content_type || ""} · ${detail.kind}` +
    ` · ${state(detail)} · ${detail.late_events} late event(s)`;
  document.getElementById("export").href = `/_emulator/sessions/${encodeURIComponent(detail.sid)}/export.jsonl`;
  document.getElementById("metrics-json").href = `/_emulator/sessions/${encodeURIComponent(detail.sid)}/metrics`;
  document.getElementById("plot").replaceChildren(drawPlot(detail.timeline));

  const metrics = document.getElementById("metrics");
  metrics.replaceChildren(...Object.entries(detail.metrics).map(([name, value]) => {
    const row = el("div", null, { "data-metric": name });
    row.append(el("dt", name.replaceAll("_", " ")), el("dd", formatValue(value)));
    return row;
  }));
  const warnings = document.getElementById("warnings");
  warnings.replaceChildren(...(detail.warnings.length ? detail.warnings.map((w) => el("li", w))
    : [el("li", "none: the sequence is consistent", { class: "none" })]));

  const t0 = detail.timeline.start_ts;
  const tbody = document.querySelector("#events tbody");
  tbody.replaceChildren(...detail.processed.map((entry, index) => {
    const body = entry.body;
    const row = el("tr", null, { "data-event-type": body.eventType });
    if (entry.late) row.classList.add("late");
    const extra = { ...(body.params || {}), ...(body.qoeData || {}), ...(body.customMetadata || {}) };
    row.append(
      el("td", index + 1),
      el("td", body.eventType),
      el("td", ((body.playerTime.ts - t0) / 1000).toFixed(3)),
      el("td", body.playerTime.playhead),
      el("td", body.playerTime.ts),
      el("td", Object.keys(extra).length ? JSON.stringify(extra) : "", { class: "params" }),
      el("td", entry.late ? "late: arrived after a later event was processed" : entry.seq === null ? "in window" : ""),
    );
    return row;
  }));
  const rejected = document.querySelector("#rejected tbody");
  rejected.replaceChildren(...detail.rejected.map((r) => {
    const row = el("tr", null);
    row.append(el("td", r.status), el("td", r.event_type || ""), el("td", r.message || ""));
    return row;
  }));
}

async function refreshDetail() {
  if (!selected) return;
  try {
    const detail = await getJson(`/_emulator/sessions/${encodeURIComponent(selected)}`);
    const key = `${detail.processed.length}/${detail.rejected.length}/${detail.closed}/${detail.waiting_in_window}`;
    if (key !== lastDetailKey) {
      lastDetailKey = key;
      renderDetail(detail);
    }
  } catch (err) {
    document.getElementById("summary").textContent = `could not load the session: ${err.message}`;
  }
}

async function poll() {
  try {
    renderSessions(await getJson("/_emulator/sessions?limit=200"));
    await refreshDetail();
  } catch (err) {
    document.getElementById("session-count").textContent = `(emulator unreachable: ${err.message})`;
  }
  setTimeout(poll, POLL_MS);
}

async function start() {
  renderLegend();
  try {
    const config = await getJson("/_emulator/config");
    document.getElementById("config").textContent =
      `time scale ×${config.time_scale} · idle timeout ${config.idle_timeout} s · stall timeout ` +
      `${config.stall_timeout} s · reorder window ${config.window_seconds} s / ${config.window_events} events` +
      (config.forward ? ` · forwarding to ${config.forward}` : "");
  } catch (err) {
    document.getElementById("config").textContent = `config unavailable: ${err.message}`;
  }
  poll();
}

start();
