/*
 * What the page tells Python about itself, for the status of the app, the tests and `make bench`:
 * errors, one report per batch once the frame that drew it is painted, and its own view of its
 * layers on request (MapView.page_state).
 */

import { nowMs, wallS } from './clock.js';

const MAX_ERRORS = 50;
const ERRORS_REPORTED = 10;

export class PageErrors {
  constructor() {
    this.list = [];
    this.bridge = null;   // set once the channel is up; earlier errors are only kept
  }

  report(where, err) {
    const msg = where + ': ' + (err && err.message ? err.message : String(err));
    this.list.push(msg);
    if (this.list.length > MAX_ERRORS) { this.list.shift(); }
    if (this.bridge) { this.bridge.pageError(msg); }
  }

  recent() { return this.list.slice(-ERRORS_REPORTED); }
}

// Reports what was drawn, once per batch, after the frame that drew it has been painted: the
// canvas calls only record drawing; rasterising happens when the frame is produced, so the report
// waits for the next animation frame and a task queued from it.
export class BatchReports {
  constructor(fleet, fleetLayer) {
    this.fleet = fleet;
    this.fleetLayer = fleetLayer;
    this.pending = [];
    this.armed = false;
    this.bridge = null;
  }

  push(report) { this.pending.push(report); }

  flush() {
    if (!this.pending.length || !this.bridge || this.armed) { return; }
    this.armed = true;
    window.requestAnimationFrame(() => {
      window.setTimeout(() => { this.armed = false; this._send(); }, 0);
    });
  }

  _send() {
    if (!this.pending.length || !this.bridge) { return; }
    const drawnAt = Date.now() / 1000;
    const reports = this.pending;
    this.pending = [];
    for (let r = 0; r < reports.length; r++) {
      reports[r].drawnAt = drawnAt;
      reports[r].drawMs = this.fleetLayer.lastDrawMs;
      reports[r].units = this.fleet.n;
    }
    this.bridge.batchApplied(JSON.stringify(reports));
  }
}

function unitReport(page, id) {
  const { map, fleet, view, palette } = page;
  const i = fleet.index.get(id);
  if (i === undefined) { return null; }
  const age = wallS() - fleet.ts[i];
  const d = fleet.displayed(i, nowMs());
  // where it is on screen now (the last frame may predate a pan or zoom)
  const p = map.latLngToContainerPoint(d), size = map.getSize();
  const trail = page.trail.points(i);
  const onScreen = !view.zooming && p.x >= 0 && p.y >= 0 && p.x <= size.x && p.y <= size.y;
  return {
    id: id, sign: fleet.signs[i], lat: fleet.fixLat[i], lng: fleet.fixLng[i], shownLat: d[0], shownLng: d[1],
    heading: fleet.hdg[i], speed: fleet.spd[i], ts: fleet.ts[i], x: p.x, y: p.y,
    visible: onScreen, status: page.config.statusNames[fleet.status[i]],
    drawn: fleet.vis[i] === 1 && fleet.agg[i] === 0, aggregated: fleet.agg[i] === 1, labelled: fleet.labelled[i] === 1,
    always: fleet.always[i] === 1,
    faded: age >= palette.fadeS && age < palette.staleS, stale: age >= palette.staleS || !view.live,
    trail: trail.length, trailEnd: trail.length ? trail[trail.length - 1] : null
  };
}

const MAX_CLUSTERS_REPORTED = 500;

// Clusters and labels as drawn in the last frame (the tests check them against the pixels).
function densityReport(page) {
  const layer = page.fleetLayer, d = layer.density, config = page.config;
  const clusters = [];
  for (let j = 0; j < d.nClusters && j < MAX_CLUSTERS_REPORTED; j++) {
    const byStatus = {};
    d.counts(j).forEach((m, c) => {
      if (m) { byStatus[c < config.statusNames.length ? config.statusNames[c] : 'stale'] = m; }
    });
    clusters.push({ key: d.key(j), x: d.cx[j], y: d.cy[j], r: d.cr[j], n: d.size(j), byStatus: byStatus });
  }
  return {
    active: d.active, clusters: d.nClusters, aggregated: d.aggregated, individual: layer.individual,
    drawMs: layer.lastDrawMs, clusterList: clusters, labels: layer.labels.report(page.fleet),
    hidden: config.statusNames.filter((name, si) => page.view.hidden[si] === 1),
    always: page.fleet.alwaysIds.size
  };
}

// The page's view of its layers, for request `ask` ({req, ids}); `page` holds every part (main.js).
export function pageState(page, ask) {
  const { map, fleet, view } = page;
  const out = {
    req: ask.req, units: fleet.n, visible: page.fleetLayer.visible, drawn: page.fleetLayer.drawn,
    lastSeq: page.wire.lastSeq, batches: page.wire.batches, unknownCodes: page.wire.unknownCodes,
    tracked: view.tracked, following: view.following, pin: page.pin.pin,
    hover: view.hover, highlight: view.highlight, zoom: map.getZoom(),
    center: [map.getCenter().lat, map.getCenter().lng], size: [map.getSize().x, map.getSize().y],
    tooltip: page.tooltip.shown(),
    density: densityReport(page),
    clusterList: page.clusterList.state(),
    trackedLabel: page.tracked.label(),
    pinLabel: page.pin.label(),
    incidents: page.incidents.ids(),
    incidentLabels: page.incidents.labels(),
    alarms: page.alarms.ids(),
    alarmLabels: page.alarms.labels(),
    replay: page.replay.state, routes: page.routes.state(), live: view.live, pausedText: page.paused.text(),
    errors: page.errors.recent(),
    basemap: page.basemap.state(),
    unit: {}
  };
  (ask.ids || []).forEach((id) => { out.unit[id] = unitReport(page, id); });
  return out;
}
