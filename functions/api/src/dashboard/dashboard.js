// Incident Commander dashboard. Reads the suite's own API by relative URLs (so a stage prefix or
// a signing proxy in front changes nothing), renders with DOM calls and textContent only (API
// text is never parsed as HTML), and keeps the interactive parts (region filter, action forms)
// in place between polls so keyboard focus and layout stay where they are.
"use strict";

// Every read comes from one request, `GET summary` (each part is what the route named here
// answers), so an open dashboard costs one API request (one Lambda invocation) per poll.
const READS = {
  status: { path: "scaling/status", label: "scaling status" },
  regions: { path: "regions", label: "regions" },
  cost: { path: "cost/report?hours=24&limit=1", label: "cost report" },
  warming: { path: "warming/status", label: "warming status" },
  recommendations: { path: "performance/recommendations", label: "recommendations" },
  emergency: { path: "cost/emergency", label: "emergency mode" },
  audit: { path: "audit?limit=8", label: "audit trail" },
};

const state = {
  region: "all",
  data: {},
  errors: {},
  updatedAt: {},
  timer: null,
  intervalSeconds: 5,
  polling: false,
  again: false,
  pendingScaling: null,
};

// ---------- small DOM and formatting helpers ----------

function $(selector) {
  return document.querySelector(selector);
}

/** An element with attributes (or properties for `className`, `hidden`) and children. */
function h(tag, attrs, ...children) {
  const svg = ["svg", "rect", "line", "text", "title", "g"].includes(tag);
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "className") el.setAttribute("class", value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function empty(text) {
  return h("p", { className: "empty" }, text);
}

function usd(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "—";
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 1 ? 2 : 4;
  return "$" + value.toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function percent(value) {
  return typeof value === "number" && Number.isFinite(value) ? Math.round(value * 100) + "%" : "—";
}

function timeIn(iso, timeZone, withDate) {
  const options = { hour: "2-digit", minute: "2-digit", hour12: false };
  if (withDate) Object.assign(options, { month: "short", day: "numeric" });
  if (timeZone) options.timeZone = timeZone;
  try {
    return new Intl.DateTimeFormat(undefined, options).format(new Date(iso));
  } catch {
    return iso;
  }
}

/** A timestamp in the viewer's zone, and in the region's when one is given. */
function when(iso, region) {
  if (!iso) return h("span", { className: "empty" }, "never");
  const date = new Date(iso);
  const recent = Date.now() - date.getTime() < 20 * 3600 * 1000;
  const local = timeIn(iso, undefined, !recent);
  const zone = region && timezoneOf(region);
  const parts = [h("time", { datetime: iso, title: date.toISOString() }, local)];
  if (zone) parts.push(h("span", { className: "region-time" }, `${timeIn(iso, zone, !recent)} in ${region}`));
  return h("span", {}, parts);
}

function timezoneOf(region) {
  const regions = state.data.regions && state.data.regions.regions;
  const found = regions && regions.find((r) => r.region === region);
  return found ? found.timezone : undefined;
}

function sum(values) {
  return values.reduce((a, b) => a + b, 0);
}

// ---------- reading the API ----------

class ApiProblem extends Error {
  constructor(status, title, detail) {
    super(`${status ? status + " " : ""}${title}${detail ? ": " + detail : ""}`);
    this.status = status;
    this.title = title;
    this.detail = detail;
  }
}

/** One call to the API: the JSON answer, or an ApiProblem from the problem document. */
async function api(path, init) {
  const headers = { accept: "application/json" };
  if (init && init.body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { credentials: "same-origin", cache: "no-store", ...init, headers });
  } catch (e) {
    throw new ApiProblem(0, "the API did not answer", e && e.message ? e.message : String(e));
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const title = (body && body.title) || response.statusText || "error";
    const detail = (body && body.detail) || text.slice(0, 200);
    throw new ApiProblem(response.status, title, detail);
  }
  if (body === null) throw new ApiProblem(response.status, "not a JSON answer", text.slice(0, 200));
  return body;
}

async function poll() {
  if (state.polling) {
    // An action just changed something: read again once the reads in flight are in.
    state.again = true;
    return;
  }
  state.polling = true;
  clearTimeout(state.timer);
  let summary = null;
  let failed = null;
  try {
    summary = await api("summary");
  } catch (e) {
    failed = e;
  }
  for (const key of Object.keys(READS)) {
    const part = summary && summary.parts ? summary.parts[key] : undefined;
    const problem = summary && summary.problems ? summary.problems[key] : undefined;
    if (part !== undefined) {
      state.data[key] = part;
      state.updatedAt[key] = new Date();
      delete state.errors[key];
    } else if (problem !== undefined) {
      state.errors[key] = new ApiProblem(problem.status, problem.title || "error", problem.detail);
    } else {
      state.errors[key] = failed || new ApiProblem(0, "missing from the summary", "");
    }
  }
  // Only a stack whose control plane runs in two regions has this part: which region acts.
  state.controlPlane = summary && summary.parts ? summary.parts.control_plane : undefined;
  state.polling = false;
  render();
  if (state.again) {
    state.again = false;
    poll();
  } else {
    schedule();
  }
}

function schedule() {
  clearTimeout(state.timer);
  // A hidden tab does not poll (nobody reads it, and each poll is a paid request); it reads
  // again as soon as it is shown.
  if (state.intervalSeconds > 0 && !document.hidden) state.timer = setTimeout(poll, state.intervalSeconds * 1000);
}

// ---------- rendering ----------

function render() {
  renderStatusLine();
  renderControlPlane();
  renderErrors();
  renderRegionFilter();
  renderEmergency();
  section("fleet", "status", renderFleet);
  section("spend", "cost", renderSpend);
  section("warming", "warming", renderWarming);
  section("recommendations", "recommendations", renderRecommendations);
  section("changes", "audit", renderChanges);
  fillActionChoices();
}

function renderStatusLine() {
  const failed = Object.keys(state.errors).length;
  const now = new Date();
  const text = `Updated ${timeIn(now.toISOString())}:${String(now.getSeconds()).padStart(2, "0")}` +
    (failed ? ` · ${failed} of ${Object.keys(READS).length} reads failed` : "") +
    (state.intervalSeconds > 0 ? "" : " · paused");
  $("#poll-status").textContent = text;
}

function renderControlPlane() {
  const line = $("#control-plane");
  const cp = state.controlPlane;
  if (!cp || !cp.role) {
    line.hidden = true;
    return;
  }
  line.hidden = false;
  const role = cp.role;
  if (role.role === "active") {
    line.textContent = `Control plane: ${cp.region} active (epoch ${role.epoch})`;
    line.className = "control-plane";
  } else if (role.holder) {
    line.textContent = `Control plane: ${role.holder} active (epoch ${role.epoch}); this region, ${cp.region}, stands by`;
    line.className = "control-plane standby";
  } else {
    line.textContent = `Control plane: no region has claimed the lease yet (this region: ${cp.region})`;
    line.className = "control-plane standby";
  }
}

function renderErrors() {
  const items = Object.entries(state.errors).map(([key, error]) =>
    h("p", { className: "error", "data-read": key }, `Could not read ${READS[key].label} (${READS[key].path}): ${error.message}`),
  );
  $("#errors").replaceChildren(...items);
}

/** Fills a section from its read, or says why it cannot; older data stays, marked stale. */
function section(id, key, draw) {
  const body = $(`#${id}-body`);
  const data = state.data[key];
  const error = state.errors[key];
  if (!data) {
    body.replaceChildren(empty(error ? `Unavailable: ${error.message}` : "Loading…"));
    return;
  }
  const parts = draw(data);
  if (error) {
    parts.unshift(h("p", { className: "stale-note" }, `Showing the answer from ${timeIn(state.updatedAt[key].toISOString())}; the latest read failed.`));
  }
  body.classList.toggle("stale", Boolean(error));
  body.replaceChildren(...parts);
}

function regionsKnown() {
  if (state.data.regions) return state.data.regions.regions.map((r) => r.region);
  if (state.data.status) return Object.keys(state.data.status.geographic_distribution);
  return [];
}

function visible(region) {
  return state.region === "all" || state.region === region;
}

function renderRegionFilter() {
  const group = $("#region-filter");
  const wanted = ["all", ...regionsKnown()];
  const present = [...group.querySelectorAll("button")].map((b) => b.dataset.region);
  if (wanted.join() !== present.join()) {
    // Only when the fleet's regions change, so a focused button is not replaced under the user.
    group.replaceChildren(
      ...wanted.map((r) => h("button", { type: "button", "data-region": r }, r === "all" ? "All regions" : r)),
    );
  }
  if (!wanted.includes(state.region)) state.region = "all";
  for (const button of group.querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset.region === state.region));
  }
}

function renderEmergency() {
  const banner = $("#emergency");
  const report = latestSweep();
  const override = state.data.emergency && state.data.emergency.operator_override;
  if (override) {
    banner.textContent = `EMERGENCY MODE ${override.emergency_mode ? "FORCED ON" : "HELD OFF"} by ${override.by} ` +
      `until ${timeIn(override.until)}: ${override.reason}`;
    banner.hidden = false;
  } else if (report && report.emergency_mode) {
    const since = (state.data.cost.actions || []).find((a) => a.action === "emergency_on");
    banner.textContent = `EMERGENCY MODE: spend ${usd(report.current_metrics.hourly_cost)}/h. ` +
      "Non-critical work is downgraded and scale-ups are held." +
      (since ? ` Since ${timeIn(since.at)}: ${since.reason}` : "");
    banner.hidden = false;
  } else {
    banner.hidden = true;
    banner.textContent = "";
  }
}

function latestSweep() {
  const cost = state.data.cost;
  return cost && cost.snapshots && cost.snapshots.length ? cost.snapshots[0] : null;
}

// ----- fleet -----

function renderFleet(status) {
  const types = Object.keys(status.scaling_policies);
  if (!types.length) return [empty("No agent types are defined.")];
  const regionHealth = new Map(Object.entries(status.region_health || {}));
  const regions = Object.keys(status.geographic_distribution).filter(visible);
  const cards = types.map((type) => typeCard(type, status, regions, regionHealth));
  return [regionMarks(regionHealth), h("div", { className: "types" }, cards)];
}

// Who marked a region: an operator, or the scaler itself from silence or errors.
const MARKED_BY = { operator: "by an operator", silence: "replicas went silent", errors: "Lambda agents failing" };

function markBadge(mark) {
  if (!mark || mark.healthy) return null;
  const by = MARKED_BY[mark.source] || mark.source;
  return h("span", { className: "badge bad", title: mark.reason || "" },
    mark.source === "operator" ? "marked unhealthy" : `failed over: ${by}`,
    mark.recovering_since ? " (recovering)" : "");
}

function regionMarks(regionHealth) {
  const events = [...regionHealth.values()].flatMap((m) => m.events || [])
    .filter((e) => visible(e.region))
    .sort((a, b) => (a.at < b.at ? 1 : -1))
    .slice(0, 6);
  if (!events.length) return h("p", { className: "empty region-marks" }, "No region has been marked.");
  return h("div", { className: "region-marks" }, h("h3", {}, "Region marks"),
    h("ul", { className: "events", "aria-label": "Latest region marks, automatic and by operators" },
    events.map((e) => h("li", {},
      when(e.at, e.region), " ",
      h("span", { className: "kind " + (e.healthy ? "healthy" : "unhealthy") }, `${e.region} ${e.healthy ? "healthy" : "unhealthy"}`),
      ` · ${MARKED_BY[e.source] || e.source}`,
      h("span", { className: "region-time" }, e.reason),
    ))));
}

function demandText(demand) {
  if (!demand) return null;
  const parts = [];
  for (const [what, counts] of [["refused", demand.refused], ["waited", demand.waited]]) {
    const bySeverity = Object.entries(counts || {}).filter(([, n]) => n > 0).map(([s, n]) => `${s} ${n}`);
    if (bySeverity.length) parts.push(`${what}: ${bySeverity.join(", ")}`);
  }
  return parts.length ? h("span", { className: "badge warn", title: "Selections in the scaler's window" }, parts.join(" · ")) : null;
}

function lastEvaluation(e) {
  if (!e) return h("p", { className: "empty last-evaluation" }, "Not evaluated yet.");
  return h("p", { className: "last-evaluation", title: (e.reasons || []).join("; ") },
    "Last evaluated ", when(e.at), ` by ${e.trigger}: ${e.live} live → ${e.desired} desired, weighed as ${e.severity}`);
}

const PREDICTION_STATUS = {
  active: "Predictive scale-out",
  disabled: "Predictive scale-out off",
  too_little_history: "Predictive scale-out waiting for history",
  no_service_time: "Predictive scale-out waiting for history",
  error_too_high: "Predictive scale-out paused (forecast missed)",
};

function prediction(p) {
  if (!p) return null;
  const floor = p.status === "active" && p.floor != null ? ` — floor ${p.floor}` : "";
  return h("p", { className: `prediction prediction-${p.status}`, title: p.reason },
    `${PREDICTION_STATUS[p.status] || p.status}${floor}: ${p.reason}`);
}

function typeCard(type, status, regions, regionHealth) {
  const policy = status.scaling_policies[type];
  const metrics = status.scaling_metrics[type] || {};
  const replicas = (status.replica_status[type] || []).filter((r) => visible(r.region));
  const distribution = status.replica_distribution[type] || {};
  const lines = {
    down: policy.scale_down_threshold,
    target: policy.target_utilization,
    up: policy.scale_up_threshold,
  };
  const rows = regions.map((region) => {
    const here = replicas.filter((r) => r.region === region);
    const healthy = here.filter((r) => r.healthy);
    const capacity = sum(healthy.map((r) => r.capacity));
    const utilization = capacity > 0 ? sum(healthy.map((r) => r.load)) / capacity : null;
    const split = distribution[region] || {};
    const regionCell = h("th", { scope: "row" }, region, " ", markBadge(regionHealth.get(region)));
    return h("tr", { "data-region": region },
      regionCell,
      h("td", { className: "num" }, `${split.current ?? here.length} / ${split.desired ?? "—"}`),
      h("td", { className: "num" }, healthy.length),
      h("td", { className: "num" }, here.length - healthy.length ? h("span", { className: "badge bad" }, here.length - healthy.length) : "0"),
      h("td", {}, meter(utilization, lines)),
    );
  });
  const healthyHere = replicas.filter((r) => r.healthy);
  const capacityHere = sum(healthyHere.map((r) => r.capacity));
  const summary = state.region === "all"
    ? `${metrics.live_replicas ?? replicas.length} live (${metrics.healthy_replicas ?? healthyHere.length} healthy${metrics.draining_replicas ? `, ${metrics.draining_replicas} draining` : ""}) · desired ${metrics.desired_replicas ?? "—"} · utilisation ${percent(metrics.utilization)} · ${Math.round(metrics.incidents_per_minute || 0)} incidents/min`
    : `${replicas.length} replicas in ${state.region} (${healthyHere.length} healthy) · utilisation ${percent(capacityHere ? sum(healthyHere.map((r) => r.load)) / capacityHere : null)}`;
  const events = [...(metrics.recent_scaling_actions || []), ...(metrics.failover_events || [])]
    .filter((e) => !e.region || visible(e.region))
    .sort((a, b) => (a.at < b.at ? 1 : -1))
    .slice(0, 5);
  return h("article", { className: "type", "data-type": type },
    h("h3", {}, type),
    h("p", { className: "type-summary" }, summary, " ", demandText(metrics.demand)),
    lastEvaluation(metrics.last_evaluation),
    prediction(metrics.prediction),
    replicas.length ? null : h("p", { className: "empty no-replicas" },
      state.region === "all" ? "No replicas reporting yet." : `No replicas reporting in ${state.region} yet.`),
    h("table", {},
      h("caption", { className: "sr-only" }, `${type} replicas by region`),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Region"),
        h("th", { scope: "col", className: "num" }, "Current / desired"),
        h("th", { scope: "col", className: "num" }, "Healthy"),
        h("th", { scope: "col", className: "num" }, "Unhealthy"),
        h("th", { scope: "col" }, `Utilisation (lines at ${percent(lines.down)}, ${percent(lines.target)}, ${percent(lines.up)})`),
      )),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 5, className: "empty" }, "No region selected."))),
    ),
    events.length
      ? h("ul", { className: "events", "aria-label": `Latest scaling and failover events of ${type}` }, events.map(eventItem))
      : h("p", { className: "empty" }, "No scaling or failover events yet."),
  );
}

function meter(utilization, lines) {
  const label = utilization === null
    ? "no healthy replica reports"
    : `${percent(utilization)} utilised; scale down below ${percent(lines.down)}, target ${percent(lines.target)}, scale up above ${percent(lines.up)}`;
  const bar = h("div", { className: "meter", role: "img", "aria-label": label, title: label });
  if (utilization !== null) {
    const fill = h("div", { className: "fill " + band(utilization, lines) });
    fill.style.width = Math.min(100, utilization * 100) + "%";
    bar.append(fill);
  }
  for (const at of [lines.down, lines.target, lines.up]) {
    const mark = h("div", { className: "mark" });
    mark.style.left = `calc(${at * 100}% - 1px)`;
    bar.append(mark);
  }
  return h("div", {}, bar, h("span", { className: "meter-value" }, utilization === null ? "no load reported" : percent(utilization)));
}

function band(utilization, lines) {
  if (utilization >= lines.up) return "high";
  if (utilization > lines.target) return "above-target";
  if (utilization < lines.down) return "low";
  return "ok";
}

function eventItem(e) {
  const change = e.from !== undefined && e.to !== undefined ? ` ${e.from} → ${e.to}` : "";
  const where = [e.region, e.replica_id].filter(Boolean).join(" ");
  const cost = typeof e.cost_impact_per_hour === "number" ? ` (${e.cost_impact_per_hour >= 0 ? "+" : ""}${usd(e.cost_impact_per_hour)}/h)` : "";
  return h("li", {},
    when(e.at, e.region), " ",
    h("span", { className: "kind " + e.kind }, e.kind.replaceAll("_", " ")),
    change, where ? ` · ${where}` : "", cost,
    e.reasons && e.reasons.length ? h("span", { className: "region-time" }, e.reasons.join("; ")) : null,
  );
}

// ----- spend -----

function renderSpend(cost) {
  const report = latestSweep();
  const parts = [];
  if (!report) {
    parts.push(empty("No cost sweep yet: the sweep runs every 15 minutes, or now from Operator actions."));
  } else {
    const m = report.current_metrics;
    parts.push(h("div", { className: "figures" },
      figure("Hourly cost", usd(m.hourly_cost), "hourly-cost"),
      figure("Daily projection", usd(m.daily_projection), "daily-projection"),
      figure("Threshold level", h("span", { className: "badge level-" + m.cost_threshold }, m.cost_threshold), "level"),
      figure("Emergency mode", report.emergency_mode ? h("span", { className: "badge bad" }, "ON") : "off", "emergency-mode"),
    ));
    parts.push(h("p", { className: "hint" }, "Last sweep ", when(report.timestamp)));
  }
  parts.push(chart(cost.hourly || [], cost.thresholds));
  if (report) {
    parts.push(h("div", { className: "breakdowns" },
      breakdown("By service (this and the previous hour)", report.cost_by_service, "service"),
      breakdown("By model", report.cost_by_model, "model"),
    ));
  }
  const actions = (cost.actions || []).slice(0, 4);
  if (actions.length) {
    parts.push(h("h3", {}, "Control changes"),
      h("ul", { className: "events" }, actions.map((a) =>
        h("li", {}, when(a.at), " ", h("span", { className: "kind" }, a.action.replaceAll("_", " ")), a.from ? ` ${a.from} → ${a.to}` : "",
          h("span", { className: "region-time" }, [a.reason, ...(a.effects || [])].filter(Boolean).join("; "))))));
  }
  return parts;
}

function figure(label, value, id) {
  return h("div", { className: "figure", "data-figure": id }, h("span", { className: "label" }, label), h("span", { className: "value" }, value));
}

function breakdown(title, values, what) {
  const rows = Object.entries(values || {}).sort((a, b) => b[1] - a[1]);
  return h("table", {},
    h("caption", { className: "sr-only" }, title),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, title), h("th", { scope: "col", className: "num" }, "USD"))),
    h("tbody", {}, rows.length
      ? rows.map(([name, value]) => h("tr", { ["data-" + what]: name }, h("td", {}, name), h("td", { className: "num" }, usd(value))))
      : h("tr", {}, h("td", { colspan: 2, className: "empty" }, "Nothing spent yet."))),
  );
}

/** Spend per hour as bars, with the level thresholds as dashed lines. */
function chart(hours, thresholds) {
  const width = 560, height = 180, left = 44, bottom = 22, top = 8;
  const highest = Math.max(0, ...hours.map((x) => x.cost));
  const lines = thresholds
    ? [["high", thresholds.high], ["critical", thresholds.critical], ["emergency", thresholds.emergency]]
    : [];
  const shown = lines.filter(([, v]) => v <= Math.max(highest, thresholds ? thresholds.high : 0) * 1.25);
  const top$ = Math.max(highest, ...shown.map(([, v]) => v), 1) * 1.1;
  const y = (v) => top + (height - top - bottom) * (1 - v / top$);
  const slot = (width - left) / Math.max(hours.length, 1);
  const label = hours.length
    ? `Spend per hour over the last ${hours.length} priced hours; highest ${usd(highest)} an hour.`
    : "No priced hours yet.";
  const svg = h("svg", { className: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label },
    h("title", {}, label),
    h("line", { className: "axis", x1: left, x2: width, y1: y(0), y2: y(0) }),
    h("text", { x: 2, y: y(0) }, "$0"),
    h("text", { x: 2, y: y(top$ / 1.1) + 4 }, usd(top$ / 1.1)),
  );
  hours.forEach((hour, i) => {
    const x = left + i * slot + slot * 0.15;
    const bar = h("rect", {
      className: hour.seconds < 3600 ? "bar partial" : "bar",
      x, width: slot * 0.7, y: y(hour.cost), height: Math.max(0, y(0) - y(hour.cost)),
    }, h("title", {}, `${timeIn(hour.hour)}: ${usd(hour.cost)}${hour.seconds < 3600 ? " (hour in progress)" : ""}`));
    svg.append(bar);
    if (i % Math.ceil(hours.length / 8) === 0) svg.append(h("text", { x, y: height - 6 }, timeIn(hour.hour)));
  });
  for (const [name, value] of shown) {
    svg.append(h("line", { className: "line at-" + name, x1: left, x2: width, y1: y(value), y2: y(value) }));
  }
  const legend = shown.map(([name, value]) => h("span", { className: "legend at-" + name }, `${name} ${usd(value)}/h`));
  return h("figure", { className: "chart-figure" }, svg,
    h("figcaption", {}, "Spend per hour (the lighter bar is the hour in progress)", legend.length ? "; dashed lines: " : "", legend),
    hours.length ? null : empty("The chart fills as sweeps price each hour."));
}

// ----- warming -----

function renderWarming(warming) {
  const targets = warming.targets.filter((t) => visible(t.region));
  if (!targets.length) return [empty(warming.targets.length ? "No warming target in this region." : "No warming targets are configured.")];
  const regions = [...new Set(targets.map((t) => t.region))];
  const functions = [...new Set(targets.map((t) => t.function))];
  const zone = new Map(targets.map((t) => [t.region, t]));
  const head = regions.map((region) => {
    const t = zone.get(region);
    return h("th", { scope: "col", "data-region": region }, region,
      h("span", { className: "region-time" }, `${timeIn(warming.timestamp, t.timezone)} there · ${t.in_window ? "warming hours" : "outside hours"}`));
  });
  const rows = functions.map((fn) => h("tr", { "data-function": fn }, h("th", { scope: "row" }, fn), regions.map((region) => {
    const t = targets.find((x) => x.function === fn && x.region === region);
    if (!t) return h("td", {}, "—");
    const run = t.last_run;
    return h("td", { "data-region": region },
      run ? when(run.last_warmed, region) : h("span", { className: "empty" }, "never warmed"),
      run ? h("span", { className: "region-time" }, `${run.containers} warm · ${run.cold} cold`,
        run.errors ? h("span", { className: "badge bad", title: run.last_error || "" }, ` ${run.errors} errors`) : null) : null);
  })));
  return [h("table", {},
    h("caption", { className: "sr-only" }, "Last warming run per function and region: containers kept warm and cold starts"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Function"), head)),
    h("tbody", {}, rows))];
}

// ----- changes -----

/** Who changed what lately (the audit trail), and the types whose autoscaling is paused. */
function renderChanges(audit) {
  const parts = [];
  const paused = (state.data.status && state.data.status.paused) || {};
  const pausedTypes = Object.keys(paused);
  if (pausedTypes.length) {
    parts.push(h("ul", { className: "paused" }, pausedTypes.map((t) =>
      h("li", { "data-agent-type": t }, h("span", { className: "badge warn" }, "paused"),
        ` ${t} by ${paused[t].by} since ${timeIn(paused[t].since)}: ${paused[t].reason}`))));
  }
  if (!audit.entries.length) {
    parts.push(empty("No operator change recorded yet."));
    return parts;
  }
  parts.push(h("table", {},
    h("caption", { className: "sr-only" }, "The latest operator changes, newest first"),
    h("thead", {}, h("tr", {}, ["When", "Who", "Change", "On"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, audit.entries.map((e) => h("tr", { "data-request-id": e.request_id },
      h("td", {}, timeIn(e.at)), h("td", {}, e.principal), h("td", {}, e.action), h("td", {}, e.target))))));
  return parts;
}

// ----- recommendations -----

function renderRecommendations(r) {
  const items = [
    ...(r.cost_recommendations || []).map((c) => ({
      kind: c.kind, what: c.suggestion, target: c.target, evidence: c.evidence, impact: c.estimated_impact,
      tag: c.auto_applicable ? "cost · applied automatically when spend is high" : "cost",
    })),
    ...(r.performance_recommendations || []).map((p) => ({
      kind: p.kind, what: p.suggestion, target: p.target, evidence: p.evidence, impact: p.estimated_impact,
      tag: `performance · ${p.priority}`,
    })),
  ];
  if (!items.length) return [empty("No recommendations: nothing in the figures so far calls for a change.")];
  // One card per kind of advice: the same suggestion for five functions is one thing to do.
  const groups = new Map();
  for (const i of items) {
    const key = `${i.kind}|${i.tag}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(i);
  }
  return [h("ul", { className: "recs" }, [...groups.values()].map((group) => {
    const first = group[0];
    if (group.length === 1) {
      return h("li", { "data-kind": first.kind },
        h("span", { className: "what" }, first.what), " ", h("span", { className: "badge" }, first.tag),
        first.target ? h("span", { className: "evidence" }, `Concerns ${first.target}`) : null,
        h("span", { className: "evidence" }, `Evidence: ${first.evidence}`),
        h("span", { className: "impact" }, first.impact));
    }
    return h("li", { "data-kind": first.kind },
      h("span", { className: "what" }, groupTitle(group)), " ", h("span", { className: "badge" }, first.tag),
      h("ul", { className: "rec-targets" }, group.map((i) => h("li", { "data-target": i.target },
        h("strong", {}, i.target), `: ${i.impact}`,
        h("span", { className: "evidence" }, `Evidence: ${i.evidence}`)))));
  }))];
}

/** What a group's suggestions say once their targets are set aside: the same words for each
 * ("keep warming each of these with pings ..."), or else the kind and how many. */
function groupTitle(group) {
  const general = group.map((i) => (i.target ? i.what.split(i.target).join("each of these") : i.what));
  if (general.every((g) => g === general[0])) return `${general[0]} (${group.length})`;
  return `${group[0].kind.replaceAll("_", " ")}: ${group.length} recommendations`;
}

// ---------- operator actions ----------

/** Fills the action forms' choices from what the fleet reports, keeping what is selected. */
function fillActionChoices() {
  setOptions($("#region-select"), regionsKnown().map((r) => [r, r]));
  const types = state.data.status ? Object.keys(state.data.status.scaling_policies) : [];
  setOptions($("#scaling-type"), [["", "every type"], ...types.map((t) => [t, t])]);
  setOptions($("#replay-type"), types.map((t) => [t, t]));
  const functions = state.data.warming ? [...new Set(state.data.warming.targets.map((t) => t.function))] : [];
  setOptions($("#warm-function"), [["", "every target"], ...functions.map((f) => [f, f])]);
}

function setOptions(select, options) {
  const current = [...select.options].map((o) => o.value).join();
  if (current === options.map(([v]) => v).join()) return;
  const chosen = select.value;
  select.replaceChildren(...options.map(([value, text]) => h("option", { value }, text)));
  if (options.some(([v]) => v === chosen)) select.value = chosen;
}

/** Asks in a modal dialog; resolves true only on Confirm. */
function confirmAction(title, text) {
  const dialog = $("#confirm");
  $("#confirm-title").textContent = title;
  $("#confirm-text").textContent = text;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
    dialog.showModal();
  });
}

function showResult(title, ...content) {
  const box = $("#action-result");
  box.classList.remove("failed");
  box.replaceChildren(h("p", {}, h("strong", {}, title)), ...content);
}

function showFailure(title, error) {
  const box = $("#action-result");
  box.classList.add("failed");
  box.replaceChildren(h("p", { role: "alert" }, h("strong", {}, `${title} failed: `), error.message));
}

/** Runs one action: confirmation (unless `ask` is null), the call, its result, then a fresh poll. */
async function act(ask, title, call, present) {
  if (ask && !(await confirmAction(ask[0], ask[1]))) {
    showResult(`${title}: cancelled, nothing was changed.`);
    return;
  }
  showResult(`${title}: working…`);
  try {
    const answer = await call();
    present(answer);
  } catch (e) {
    showFailure(title, e);
  }
  poll();
}

function decisionsList(decisions) {
  if (!decisions.length) return empty("No agent type to evaluate.");
  return h("ul", {}, decisions.map((d) => h("li", { "data-type": d.agent_type },
    h("strong", {}, d.agent_type), `: ${d.current} → ${d.desired} (`,
    Object.entries(d.desired_by_region).map(([r, n]) => `${r} ${n}`).join(", "), ")",
    d.reasons.length ? h("span", { className: "region-time" }, d.reasons.join("; ")) : null,
    d.warnings.length ? h("span", { className: "region-time" }, "Warnings: " + d.warnings.join("; ")) : null,
  )));
}

/** The replay's two runs side by side. */
function replayTable(answer) {
  const [current, proposed] = answer.runs;
  const rows = [
    ["incidents completed", (r) => `${r.incidents_completed} of ${answer.incidents}`],
    ["wait p50 / p95 / p99", (r) => `${r.wait_p50_s.toFixed(1)} / ${r.wait_p95_s.toFixed(1)} / ${r.wait_p99_s.toFixed(1)} s`],
    ["waited past the maximum", (r) => `${(r.waited_over_maximum_share * 100).toFixed(2)} %`],
    ["done past the maximum", (r) => `${(r.done_over_maximum_share * 100).toFixed(2)} %`],
    ["replica-hours", (r) => r.replica_hours.toFixed(1)],
    ["replica cost", (r) => usd(r.replica_cost)],
    ["metered spend", (r) => usd(r.spend)],
    ["scaling actions", (r) => String(r.scaling_actions)],
  ];
  return h("table", { id: "replay-result" },
    h("caption", { className: "sr-only" }, "What-if replay"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, ""), h("th", { scope: "col" }, current.label), h("th", { scope: "col" }, proposed.label))),
    h("tbody", {}, rows.map(([name, cell]) => h("tr", { "data-row": name },
      h("th", { scope: "row" }, name), h("td", { className: "num" }, cell(current)), h("td", { className: "num" }, cell(proposed))))),
  );
}

/** The proposed policy: the type's policy in force with the changes (a JSON object) over it. */
async function proposedPolicy(agentType, changesText) {
  let changes = {};
  if (changesText.trim()) {
    try {
      changes = JSON.parse(changesText);
    } catch (e) {
      throw new Error(`policy changes are not JSON: ${e.message}`);
    }
    if (changes === null || typeof changes !== "object" || Array.isArray(changes)) {
      throw new Error('policy changes are a JSON object, such as {"max_replicas": 4}');
    }
  }
  const view = await api(`scaling/policies/${encodeURIComponent(agentType)}`);
  const { agent_type: _type, version: _version, timestamp: _at, ...policy } = view;
  return { ...policy, ...changes };
}

function wireActions() {
  $("#region-filter").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-region]");
    if (!button) return;
    state.region = button.dataset.region;
    render();
  });

  $("#interval").addEventListener("change", (event) => {
    state.intervalSeconds = Number(event.target.value);
    renderStatusLine();
    if (state.intervalSeconds > 0) poll();
    else clearTimeout(state.timer);
  });

  $("#region-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const region = form.region.value;
    const healthy = form.healthy.value === "true";
    const reason = $("#region-reason").value.trim();
    if (!region) return showFailure("Region health", new Error("no region to mark yet"));
    if (form.healthy.value === "clear") {
      return act(
        [`Clear the mark on ${region}?`, `${region} is healthy again, and the scaler marks it itself if its replicas go silent or its Lambda agents fail.`],
        `Clear ${region}`,
        () => api(`regions/${encodeURIComponent(region)}/health`, { method: "DELETE" }),
        (answer) => showResult(`${region}'s mark is cleared. New split:`, decisionsList(answer.redistributed)),
      );
    }
    const body = { healthy, ...(reason ? { reason } : {}) };
    act(
      [`Mark ${region} ${healthy ? "healthy" : "unhealthy"}?`,
        healthy
          ? `${region} takes its share of every agent type's replicas again.`
          : `Every agent type's replicas in ${region} move to the other healthy regions.`],
      `Mark ${region} ${healthy ? "healthy" : "unhealthy"}`,
      () => api(`regions/${encodeURIComponent(region)}/health`, { method: "PUT", body: JSON.stringify(body) }),
      (answer) => showResult(`${region} is marked ${answer.region.healthy ? "healthy" : "unhealthy"}. New split:`, decisionsList(answer.redistributed)),
    );
  });

  $("#scaling-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const agentType = event.target.agent_type.value;
    const body = { dry_run: true, ...(agentType ? { agent_type: agentType } : {}) };
    state.pendingScaling = null;
    $("#scaling-apply").disabled = true;
    act(null, "Scaling dry run", () => api("scaling/optimize", { method: "POST", body: JSON.stringify(body) }), (answer) => {
      state.pendingScaling = agentType;
      $("#scaling-apply").disabled = false;
      showResult(`Dry run (nothing changed), ${usd(answer.cost_impact)}/h if applied:`, decisionsList(answer.decisions),
        h("p", {}, "Apply… evaluates again and applies what it then decides."));
    });
  });

  $("#scaling-apply").addEventListener("click", () => {
    const agentType = state.pendingScaling;
    if (agentType === null) return;
    const body = { dry_run: false, ...(agentType ? { agent_type: agentType } : {}) };
    act(
      ["Apply scaling decisions?", `The scaler's decisions for ${agentType || "every agent type"} are stored and actuated now.`],
      "Apply scaling",
      () => api("scaling/optimize", { method: "POST", body: JSON.stringify(body) }),
      (answer) => {
        state.pendingScaling = null;
        $("#scaling-apply").disabled = true;
        showResult(`Applied, ${usd(answer.cost_impact)}/h:`, decisionsList(answer.decisions),
          answer.actions_taken.length ? h("p", {}, "Actions: " + answer.actions_taken.join("; ")) : h("p", {}, "No change was needed."));
      },
    );
  });

  $("#replay-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const agentType = form.agent_type.value;
    if (!agentType) return showFailure("What-if replay", new Error("no agent type to replay yet"));
    const body = { agent_type: agentType, day: form.day.value, from_hour: Number(form.from_hour.value), hours: Number(form.hours.value) };
    act(null, "What-if replay", async () => {
      body.policy = await proposedPolicy(agentType, form.changes.value);
      return api("scaling/replay", { method: "POST", body: JSON.stringify(body) });
    }, (answer) => showResult(
      `Replay of ${answer.agent_type} on ${answer.day}, ${String(answer.from_hour).padStart(2, "0")}:00 UTC for ${answer.hours} h (nothing changed): ${answer.incidents} incidents, ${answer.history_hours} recorded hours before them to forecast from, ${answer.elapsed_ms} ms.`,
      replayTable(answer),
    ));
  });

  $("#sweep-form").addEventListener("submit", (event) => {
    event.preventDefault();
    act(
      ["Run a cost sweep now?", "It prices usage so far and may change the cost controls (level, optimisation, emergency mode)."],
      "Cost sweep",
      () => api("cost/optimize", { method: "POST", body: "{}" }),
      (report) => showResult(
        `Swept: ${usd(report.current_metrics.hourly_cost)}/h, projected ${usd(report.current_metrics.daily_projection)} today, level ${report.current_metrics.cost_threshold}${report.emergency_mode ? ", EMERGENCY MODE" : ""}.`,
        report.actions.length ? h("ul", {}, report.actions.map((a) => h("li", {}, `${a.action.replaceAll("_", " ")}: ${a.reason}`))) : h("p", {}, "No control changed."),
        report.sources.missing.length ? h("p", {}, "Not priced here: " + report.sources.missing.join(", ")) : null,
      ),
    );
  });

  $("#warm-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const fn = event.target.function.value;
    act(
      ["Warm now?", `Pings ${fn || "every warming target"} in every configured region, whatever the hour; each ping is a billed invocation.`],
      "Warm now",
      () => api("lambda/warm", { method: "POST", body: JSON.stringify(fn ? { functions: [fn] } : {}) }),
      (run) => showResult(
        run.unreachable
          ? `Nothing warmed: ${run.unreachable}`
          : `Warmed ${run.successful_warmings} target(s), ${run.failed_warmings} failed, ${usd(run.estimated_cost)}.`,
        run.unrecorded && run.unrecorded.length ? h("p", {}, "Not recorded: " + run.unrecorded.join("; ")) : null,
      ),
    );
  });
}

function start() {
  const asked = Number(new URLSearchParams(location.search).get("interval"));
  if (Number.isFinite(asked) && asked >= 1 && asked <= 300) {
    state.intervalSeconds = asked;
    const select = $("#interval");
    if (![...select.options].some((o) => o.value === String(asked))) select.append(h("option", { value: asked }, `every ${asked} s`));
    select.value = String(asked);
  }
  // The replay's day: yesterday (UTC), the latest whole recorded day.
  $("#replay-day").value = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  wireActions();
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) clearTimeout(state.timer);
    else if (state.intervalSeconds > 0) poll();
  });
  poll();
}

start();
