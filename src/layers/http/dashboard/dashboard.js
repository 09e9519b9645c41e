/* global document, window */
// The lnsync dashboard (issue 16): plain DOM and SVG over the JSON API, nothing loaded from elsewhere. Every value
// from the graph (aliases especially: anyone can announce any alias) goes into the page as text, never as HTML.

const SVG = "http://www.w3.org/2000/svg"
const REFRESH_MS = 5000
const DISTRIBUTIONS_MS = 60000
const number = new Intl.NumberFormat("en-US")

const $ = (selector) => document.querySelector(selector)

/**
 * An element with attributes and children (strings become text nodes). `style` is an object of CSS properties, set
 * through the CSSOM: the server's Content-Security-Policy refuses inline `style` attributes.
 */
const el = (tag, attributes = {}, ...children) => {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag)
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "style") { for (const [property, css] of Object.entries(value)) node.style.setProperty(property, css) }
    else node.setAttribute(key, String(value))
  }
  for (const child of children) node.append(child)
  return node
}

const getJson = async (path) => {
  const response = await fetch(path, { headers: { accept: "application/json" } })
  const body = await response.json()
  if (!response.ok) throw new Error(body && body.reason ? body.reason : `${path}: HTTP ${response.status}`)
  return body
}

/** 1234567 -> "1.2M": axis and bucket labels. */
const short = (value) => {
  if (value >= 1e9) return `${+(value / 1e9).toFixed(1)}G`
  if (value >= 1e6) return `${+(value / 1e6).toFixed(1)}M`
  if (value >= 1e3) return `${+(value / 1e3).toFixed(1)}k`
  return String(value)
}

const ago = (seconds) =>
  seconds < 120
    ? `${seconds} s`
    : seconds < 7200
    ? `${Math.round(seconds / 60)} min`
    : `${Math.round(seconds / 3600)} h`

// ---------------------------------------------------------------------------------------------------------------
// Stats: counts, status, peers

const renderStats = (stats) => {
  $("[data-testid=count-channels]").textContent = number.format(stats.channels)
  $("[data-testid=count-updates]").textContent = number.format(stats.updates)
  $("[data-testid=count-nodes]").textContent = number.format(stats.nodes)
  $("[data-testid=count-nodes-with-channel]").textContent = number.format(stats.nodes_with_channel)
  $("[data-testid=count-zombies]").textContent = number.format(stats.zombies)
  const status = $("#status")
  status.textContent = stats.mode === "serve" ? "serving a stored graph" : stats.graph_synced ? "synced" : "syncing"
  status.className = `badge ${stats.graph_synced ? "ok" : "wait"}`
  $("#freshness").textContent = stats.age_seconds === null
    ? "no gossip held"
    : `newest gossip ${ago(stats.age_seconds)} old`

  const body = $("#peers-body")
  body.replaceChildren()
  if (stats.peers.length === 0) {
    const note = stats.mode === "serve"
      ? "no peers: this server reads a stored graph (lnsync sync --http syncs)"
      : "no peers yet"
    body.append(el("tr", {}, el("td", { colspan: 7, class: "muted" }, note)))
  }
  for (const peer of stats.peers) {
    body.append(
      el(
        "tr",
        { "data-node-id": peer.node_id },
        el("td", { class: "mono", title: peer.node_id }, `${peer.node_id.slice(0, 16)}…`),
        el("td", {}, peer.sync_type ?? "–"),
        el("td", {}, peer.syncing ? `${peer.state ?? "–"} (syncing)` : peer.state ?? "–"),
        el("td", {}, String(peer.completed_syncs)),
        el("td", {}, String(peer.failures)),
        el("td", {}, peer.completed_initial ? "done" : "pending"),
        el("td", { class: "muted" }, peer.last_failure ?? "")
      )
    )
  }
}

// ---------------------------------------------------------------------------------------------------------------
// History: one line per count over time

const SERIES = [
  { key: "channels", color: "var(--channels)" },
  { key: "updates", color: "var(--updates)" },
  { key: "nodes", color: "var(--nodes)" }
]

const renderHistory = (history) => {
  const samples = history.samples
  const note = $("#history-note")
  note.textContent = history.interval_seconds === 0
    ? "this server keeps no history"
    : `${samples.length} samples, one every ${history.interval_seconds} s (the last ${history.capacity} kept)`
  const width = 900, height = 220, left = 48, right = 12, top = 10, bottom = 24
  const svg = el("svg:svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "graph counts over time" })
  const t0 = samples.length > 0 ? samples[0].time : 0
  const t1 = samples.length > 1 ? samples[samples.length - 1].time : t0 + 1
  const max = Math.max(1, ...samples.flatMap((s) => SERIES.map((series) => s[series.key])))
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (width - left - right)
  const y = (v) => top + (1 - v / max) * (height - top - bottom)
  for (const fraction of [0, 0.5, 1]) {
    const v = Math.round(max * fraction)
    svg.append(el("svg:line", { class: "axis", x1: left, x2: width - right, y1: y(v), y2: y(v) }))
    svg.append(el("svg:text", { x: left - 6, y: y(v) + 3, "text-anchor": "end" }, short(v)))
  }
  if (samples.length > 0) {
    const clock = (t) => new Date(t).toLocaleTimeString("en-GB")
    svg.append(el("svg:text", { x: left, y: height - 6 }, clock(t0)))
    svg.append(el("svg:text", { x: width - right, y: height - 6, "text-anchor": "end" }, clock(t1)))
  }
  for (const series of SERIES) {
    const points = samples.map((s) => `${x(s.time).toFixed(1)},${y(s[series.key]).toFixed(1)}`).join(" ")
    svg.append(
      el("svg:polyline", {
        "data-series": series.key,
        "data-points": samples.length,
        points,
        fill: "none",
        stroke: series.color,
        "stroke-width": 2
      })
    )
    for (const s of samples.length === 1 ? samples : []) {
      svg.append(el("svg:circle", { cx: x(s.time), cy: y(s[series.key]), r: 3, fill: series.color }))
    }
  }
  const legend = el("div", { class: "legend" })
  for (const series of SERIES) {
    const last = samples.length > 0 ? number.format(samples[samples.length - 1][series.key]) : "–"
    legend.append(el("span", { style: { "--swatch": series.color } }, `${series.key} ${last}`))
  }
  $("#history-plot").replaceChildren(svg, legend)
}

// ---------------------------------------------------------------------------------------------------------------
// Distributions: one bar chart per histogram

const renderHistogram = (target, histogram, empty) => {
  const holder = $(`[data-testid=${target}]`)
  holder.setAttribute("data-total", histogram.total)
  if (histogram.total === 0) {
    holder.replaceChildren(el("p", { class: "muted" }, empty))
    return
  }
  // drop empty buckets at both ends: the 1-2-5 scale is wide so that any graph fits it
  const used = histogram.buckets.map((b, i) => (b.count > 0 ? i : -1)).filter((i) => i >= 0)
  const buckets = histogram.buckets.slice(used[0], used[used.length - 1] + 1)
  const width = 300, height = 160, bottom = 30, top = 14
  const max = Math.max(...buckets.map((b) => b.count))
  const slot = width / buckets.length
  const svg = el("svg:svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": target })
  buckets.forEach((b, i) => {
    const h = (b.count / max) * (height - top - bottom)
    const label = b.to === null ? `≥${short(b.from)}` : short(b.from)
    const bar = el("svg:rect", {
      class: "bar",
      x: i * slot + 2,
      y: height - bottom - h,
      width: Math.max(1, slot - 4),
      height: h,
      "data-count": b.count
    })
    bar.append(
      el("svg:title", {}, `${b.to === null ? `≥ ${b.from}` : `${b.from} – ${b.to}`} ${histogram.unit}: ${b.count}`)
    )
    svg.append(bar)
    if (b.count > 0) {
      svg.append(
        el("svg:text", {
          class: "bar-label",
          x: i * slot + slot / 2,
          y: height - bottom - h - 3,
          "text-anchor": "middle"
        }, short(b.count))
      )
    }
    svg.append(el("svg:text", { x: i * slot + slot / 2, y: height - bottom + 12, "text-anchor": "middle" }, label))
  })
  svg.append(
    el(
      "svg:text",
      { x: width / 2, y: height - 4, "text-anchor": "middle" },
      `${number.format(histogram.total)} values, ${histogram.unit}`
    )
  )
  holder.replaceChildren(svg)
}

const renderDistributions = (d) => {
  renderHistogram("dist-fee-ppm", d.fee_ppm, "no enabled channel updates")
  renderHistogram("dist-fee-base", d.fee_base_msat, "no enabled channel updates")
  renderHistogram("dist-capacity", d.capacity_sat, "no capacities: they come from a chain source (--chain-source)")
  renderHistogram("dist-htlc-max", d.htlc_maximum_sat, "no enabled channel updates")
}

// ---------------------------------------------------------------------------------------------------------------
// Node search by alias prefix

const search = async (prefix) => {
  const list = $("#search-results")
  const query = new URLSearchParams({ limit: "25" })
  if (prefix !== "") query.set("alias", prefix)
  try {
    const page = await getJson(`/api/v1/nodes?${query}`)
    list.replaceChildren()
    if (page.nodes.length === 0) list.append(el("li", { class: "muted" }, `no node's alias starts with "${prefix}"`))
    for (const node of page.nodes) {
      list.append(
        el(
          "li",
          { "data-node-id": node.node_id },
          el("span", {
            class: "swatch",
            style: { background: /^#[0-9a-f]{6}$/i.test(node.color ?? "") ? node.color : "transparent" }
          }),
          el("strong", {}, node.alias ?? "(no alias)"),
          el("a", { class: "mono", href: `/api/v1/nodes/${node.node_id}/channels` }, `${node.node_id.slice(0, 20)}…`),
          el("span", { class: "muted" }, `${node.addresses.length} address${node.addresses.length === 1 ? "" : "es"}`)
        )
      )
    }
    list.setAttribute("data-query", prefix)
  } catch (error) {
    list.replaceChildren(el("li", { class: "muted" }, `search failed: ${error.message}`))
  }
}

// ---------------------------------------------------------------------------------------------------------------

const guard = (what, task) =>
  task().catch((error) => {
    const status = $("#status")
    status.textContent = `${what} failed: ${error.message}`
    status.className = "badge bad"
  })

const refresh = () =>
  Promise.all([
    guard("stats", async () => renderStats(await getJson("/api/v1/stats"))),
    guard("history", async () => renderHistory(await getJson("/api/v1/history")))
  ])

const refreshDistributions = () =>
  guard("distributions", async () => renderDistributions(await getJson("/api/v1/distributions")))

const start = () => {
  let typing
  $("#search-form").addEventListener("submit", (event) => {
    event.preventDefault()
    search($("#search").value.trim())
  })
  $("#search").addEventListener("input", () => {
    window.clearTimeout(typing)
    typing = window.setTimeout(() => search($("#search").value.trim()), 250)
  })
  refresh()
  refreshDistributions()
  window.setInterval(refresh, REFRESH_MS)
  window.setInterval(refreshDistributions, DISTRIBUTIONS_MS)
}

start()
