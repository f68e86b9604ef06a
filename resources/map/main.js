/*
 * CarTrack map page: the entry module, which builds the parts and wires them to the map and to
 * Python.
 *
 * The live fleet is drawn on one canvas layer (render.js); DOM markers are used for the tracked
 * unit, the incident pin, the incidents and the replay (overlays/). Python and the page talk
 * through a single QWebChannel object, "bridge" (ui/bridge.py): everything that arrives from
 * Python is a JSON string read with JSON.parse, and text reaches the DOM only through
 * textContent. There is no eval, no innerHTML and no HTML built from data in the page's modules.
 */

import { Basemap } from './basemap.js';
import { nowMs, wallS } from './clock.js';
import { readConfig } from './config.js';
import { ClusterActions } from './clusters.js';
import { BatchReports, PageErrors, pageState } from './diagnostics.js';
import { ClusterList } from './overlays/cluster_list.js';
import { AlarmsLayer } from './overlays/alarms.js';
import { IncidentsLayer } from './overlays/incidents.js';
import { PausedNotice } from './overlays/paused.js';
import { PinLayer } from './overlays/pin.js';
import { ReplayLayer } from './overlays/replay.js';
import { RouteLayer } from './overlays/route.js';
import { TrackedLayer } from './overlays/tracked.js';
import { TrailLayer } from './overlays/trail.js';
import { Palette } from './palette.js';
import { FleetLayer } from './render.js';
import { Tooltip, hitTest } from './tooltip.js';
import { Units } from './units.js';
import { WireDecoder } from './wire.js';

const UNIT_CAPACITY = 1024;     // grows by doubling
const CLICK_DELAY_MS = 260;     // a click is a click once no double-click followed
const CLOCK_TICK_MS = 1000;     // fix ages advance without data: fade/stale, the tooltip and the trail
const KEYS = new Set(['Escape', 'Enter']);

const errors = new PageErrors();

// ---------------------------------------------------------------- Python -> page
function applyBatch(page, text) {
  const tRecv = nowMs(), received = wallS();
  const b = JSON.parse(text);
  const tParsed = nowMs();
  page.wire.apply(b, page.fleet, tParsed);
  const view = page.view;
  if (view.hover !== null && !page.fleet.index.has(view.hover)) { view.hover = null; }
  page.trail.refresh();
  const tApplied = nowMs();
  page.reports.push({
    seq: b.seq, n: b.codes.length, gone: b.gone.length, sent: b.sent, flushed: b.flushed,
    received: received, parseMs: tParsed - tRecv, applyMs: tApplied - tParsed
  });
  // Draw now rather than at the next animation frame: the new fixes are on the canvas at once
  // (the app sends at most 10-20 batches a second, fewer for big fleets).
  const animating = page.fleetLayer.drawNow(tApplied);
  page.reports.flush();
  if (animating) { page.fleetLayer.schedule(); }
}

function applyMeta(page, meta) {
  Object.keys(meta).forEach((id) => { page.fleet.setMeta(id, meta[id]); });
  page.fleetLayer.schedule();
}

function setTracked(page, t) {
  page.tracked.track(t && typeof t.id === 'string' ? t.id : null, !!(t && t.follow), nowMs());
  page.trail.refresh();
  page.fleetLayer.schedule();
}

function setHighlight(page, id) {
  page.view.highlight = id ? String(id) : null;
  page.fleetLayer.schedule();
}

function centre(page, c) {
  page.map.setView([c.lat, c.lng], c.zoom || page.map.getZoom(), { animate: false });
}

// What the map shows: statuses the dispatcher hid, and units Python always shows (tracked, alarm).
function setFilter(page, f) {
  const view = page.view, config = page.config;
  view.hidden.fill(0);
  (Array.isArray(f.hidden) ? f.hidden : []).forEach((name) => {
    const si = config.statusIndex.get(name);
    if (si !== undefined) { view.hidden[si] = 1; }
  });
  page.fleet.setAlways((Array.isArray(f.always) ? f.always : []).filter((id) => typeof id === 'string'));
  page.fleetLayer.schedule();
}

function setLive(page, l) {
  page.paused.set(l);
  page.fleetLayer.schedule();
}

// The page's state for request `req` ({req, ids, probe}); with `probe` (tiles to render, for `make bench`)
// once they are rendered.
function reportState(page, req) {
  const ask = JSON.parse(req);
  const send = (extra) => {
    page.bridge.reportState(String(ask.req), JSON.stringify(Object.assign(pageState(page, ask), extra)));
  };
  if (!Array.isArray(ask.probe)) { send({}); return; }
  page.basemap.probe(ask.probe).then((ms) => send({ probe: ms }), (err) => {
    errors.report('probe', err);
    send({ probe: [] });
  });
}

// One row per bridge signal (the names in ui/bridge.py): the name errors are reported under, and
// the handler, given the signal's string. A handler that throws is reported, never fatal.
const INBOUND = {
  fleetBatch: ['batch', applyBatch],
  unitMeta: ['meta', (page, text) => applyMeta(page, JSON.parse(text))],
  pinChanged: ['pin', (page, text) => page.pin.set(JSON.parse(text))],
  trackChanged: ['track', (page, text) => setTracked(page, JSON.parse(text))],
  highlightChanged: ['highlight', setHighlight],
  centerRequested: ['center', (page, text) => centre(page, JSON.parse(text))],
  incidentsChanged: ['incidents', (page, text) => page.incidents.set(JSON.parse(text))],
  replayChanged: ['replay', (page, text) => page.replay.set(JSON.parse(text))],
  replayMoved: ['replay', (page, text) => page.replay.move(JSON.parse(text))],
  liveChanged: ['live', (page, text) => setLive(page, JSON.parse(text))],
  routesChanged: ['routes', (page, text) => page.routes.set(JSON.parse(text))],
  filterChanged: ['filter', (page, text) => setFilter(page, JSON.parse(text))],
  alarmsChanged: ['alarms', (page, text) => page.alarms.set(JSON.parse(text))],
  basemapChanged: ['basemap', (page, text) => page.basemap.set(JSON.parse(text))],
  stateRequested: ['state', reportState]
};

function wireBridge(page) {
  Object.keys(INBOUND).forEach((signal) => {
    const [where, handle] = INBOUND[signal];
    page.bridge[signal].connect((text) => {
      try { handle(page, text); } catch (err) { errors.report(where, err); }
    });
  });
}

// ---------------------------------------------------------------- map and keyboard -> Python
// The cluster under container point p (its key), or null.
function clusterAt(page, p) {
  const j = page.fleetLayer.density.hit(p.x, p.y);
  return j >= 0 ? page.fleetLayer.density.key(j) : null;
}

function wireClicks(page) {
  const { map, fleet, view } = page;
  let clickTimer = null;
  map.on('click', (e) => {
    if (clickTimer !== null) { clearTimeout(clickTimer); }
    const ll = e.latlng;
    const onUnit = hitTest(fleet, view, e.containerPoint.x, e.containerPoint.y) >= 0;
    const cluster = onUnit ? null : clusterAt(page, e.containerPoint);
    page.clusterList.hide();
    clickTimer = setTimeout(() => {
      clickTimer = null;
      if (cluster !== null) {      // a cluster: zoom in to split it, or list its units
        page.clusterActions.click(cluster);
      } else {
        page.bridge.mapClicked(ll.lat, ll.lng);
      }
    }, CLICK_DELAY_MS);
  });
  map.on('dblclick', (e) => {
    if (clickTimer !== null) { clearTimeout(clickTimer); clickTimer = null; }
    const i = hitTest(fleet, view, e.containerPoint.x, e.containerPoint.y);
    if (i >= 0) {
      page.bridge.unitDoubleClicked(fleet.ids[i]);
    } else {
      map.setZoomAround(e.containerPoint, map.getZoom() + 1);
    }
  });
}

function wireHover(page) {
  const { map, fleet, view, fleetLayer, tooltip } = page;
  let mouse = null, hoverPending = false;
  map.on('mousemove', (e) => {
    mouse = e.containerPoint;
    if (hoverPending) { return; }
    hoverPending = true;
    window.requestAnimationFrame(() => {   // one hit test per frame, however fast the mouse moves
      hoverPending = false;
      if (!mouse) { return; }
      const i = hitTest(fleet, view, mouse.x, mouse.y);
      const id = i >= 0 ? fleet.ids[i] : null;
      const cluster = id === null ? clusterAt(page, mouse) : null;
      map.getContainer().classList.toggle('ct-over-unit', id !== null || cluster !== null);
      view.hoverCluster = cluster;
      if (id !== view.hover) {
        view.hover = id;
        fleetLayer.schedule();
      }
      tooltip.update(page.clusterActions);
    });
  });
  map.on('mouseout', () => {
    mouse = null;
    view.hover = null;
    view.hoverCluster = null;
    tooltip.update(page.clusterActions);
    fleetLayer.schedule();
  });
}

function wireMap(page) {
  const { map, view, fleetLayer } = page;
  wireClicks(page);
  wireHover(page);
  map.on('dragstart', () => {
    page.clusterList.hide();
    if (view.following) {
      view.following = false;
      page.bridge.followChanged(false);
    }
  });
  map.on('zoomstart', () => {
    view.zooming = true;
    view.hoverCluster = null;     // clusters are remade at the new zoom
    page.clusterList.hide();
    fleetLayer.schedule();
  });
  map.on('zoomend', () => { view.zooming = false; fleetLayer.schedule(); });
  map.on('move resize', () => { fleetLayer.schedule(); });
  map.on('resize', () => { fleetLayer.resize(); });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { page.clusterList.hide(); }
    if (KEYS.has(e.key)) { page.bridge.keyPressed(e.key); }
  });
  setInterval(() => {
    fleetLayer.schedule();
    page.tooltip.update(page.clusterActions);
    page.trail.refresh();
  }, CLOCK_TICK_MS);
}

// ---------------------------------------------------------------- start
function findMap() {
  const div = document.querySelector('.folium-map');
  return div ? window[div.id] : null;
}

// Every part of the page, built once; the view state is what several of them read.
function buildPage(config, map) {
  const view = {
    tracked: null, following: false, highlight: null, hover: null, hoverCluster: null, live: true, zooming: false,
    hidden: new Uint8Array(config.statusNames.length)   // 1: status hidden by the dispatcher's filter
  };
  const fleet = new Units(UNIT_CAPACITY, config.statusIndex);
  const palette = new Palette(config);
  const tracked = new TrackedLayer(map, fleet, view, palette);
  const page = {
    config: config, map: map, view: view, fleet: fleet, palette: palette, tracked: tracked, errors: errors,
    bridge: null, wire: new WireDecoder()
  };
  const alarms = new AlarmsLayer(map, fleet);
  page.alarms = alarms;
  page.fleetLayer = new FleetLayer(map, fleet, view, palette, config, (t, idx) => {
    tracked.update(t, idx);
    alarms.update(t);
  });
  page.clusterList = new ClusterList(map, config, (id) => { if (page.bridge) { page.bridge.unitDoubleClicked(id); } });
  page.clusterActions = new ClusterActions(map, fleet, page.fleetLayer.density, page.clusterList);
  page.tooltip = new Tooltip(map, fleet, view, config);
  page.paused = new PausedNotice(map, view);
  page.trail = new TrailLayer(map, fleet, view);
  page.pin = new PinLayer(map);
  page.incidents = new IncidentsLayer(map, config);
  page.replay = new ReplayLayer(map);
  page.routes = new RouteLayer(map, config);
  page.basemap = new Basemap(map, config, (name) => { if (page.bridge) { page.bridge.basemapChosen(name); } });
  page.reports = new BatchReports(fleet, page.fleetLayer);
  return page;
}

function start() {
  const config = readConfig(document);
  const map = findMap();
  if (!map) { throw new Error('map not found'); }
  map.attributionControl.setPrefix('');
  const page = buildPage(config, map);
  new QWebChannel(qt.webChannelTransport, (channel) => {
    const bridge = channel.objects.bridge;
    page.bridge = bridge;
    page.reports.bridge = bridge;
    errors.bridge = bridge;
    wireBridge(page);
    wireMap(page);
    page.fleetLayer.schedule();
    bridge.pageReady(JSON.stringify({ leaflet: L.version, units: page.fleet.n }));
  });
}

window.addEventListener('error', (e) => { errors.report('window', e.error || e.message); });
if (document.readyState === 'complete') { start(); } else { window.addEventListener('load', start); }
