/*
 * What lies under the fleet: the imported street map (vector tiles drawn by protomaps-leaflet from
 * the PMTiles archive Python serves through cartrack://, with the dispatch style), the configured
 * online tile server (--tiles), or nothing; a layer control to choose; and, while no street map is
 * imported, one line on the map saying how to import one. Everything here is in Leaflet's tile pane,
 * under the fleet canvas, the trail, the pins and the tooltips.
 */

import { LAND, labelRules, paintRules } from './basemap_style.js';

const NAMES = { streets: 'Streets (imported)', online: 'Online tiles', none: 'No basemap' };  // constants only:
// Leaflet's layer control writes these names as HTML
const RECENT_TILES = 200;      // render times kept for the page's report
const LEVEL_DIFF = 1;          // the archive's tiles are drawn at twice their size: data zoom = map zoom - 1
const PROBE_TIMEOUT_MS = 10000;
const DECODED_TILES_KEPT = 24;   // protomaps-leaflet keeps 64 decoded data tiles: ~80 MB for a dense city

// Keep at most `max` decoded data tiles in each of the layer's caches, the least recently used going
// first. protomaps-leaflet 5.1.0 holds 64 (TileCache.cache, a Map of {used, data}); the view needs
// about a dozen at a time (data tiles are twice the map's), and a decoded tile of a dense city is
// megabytes of point objects. Written against that version's fields; without them nothing changes.
function capDecodedTiles(layer, max) {
  (layer.views ? Array.from(layer.views.values()) : []).forEach((view) => {
    const cache = view && view.tileCache ? view.tileCache.cache : null;
    if (!(cache instanceof Map)) { return; }
    const set = cache.set.bind(cache);
    cache.set = (key, value) => {
      set(key, value);
      while (cache.size > max) {
        let oldest = null, at = Infinity;
        cache.forEach((entry, k) => { if (entry.used < at) { at = entry.used; oldest = k; } });
        if (oldest === null) { break; }
        cache.delete(oldest);
      }
      return cache;
    };
  });
}

// Text made safe for the places where Leaflet takes HTML (the attribution control).
function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';');
}

export class Basemap {
  // config: the page config (tiles, basemapHint); onChosen(name) runs when the dispatcher picks a layer.
  constructor(map, config, onChosen) {
    this.map = map;
    this.config = config;
    this.onChosen = onChosen;
    this.info = null;                 // what Python sent about the imported map, or null
    this.streets = null;
    this.online = config.tiles ? L.tileLayer(config.tiles.url, {
      attribution: config.tiles.attributionHtml, maxZoom: 19, maxNativeZoom: config.tiles.maxZoom
    }) : null;
    this.none = L.layerGroup();
    this.active = null;
    this.chosen = null;               // what the dispatcher picked in the control (kept over a new import)
    this.control = null;
    this.programmatic = false;
    this.stats = { requested: 0, loaded: 0, errors: 0, ms: [] };
    this.hint = L.DomUtil.create('div', 'ct-basemap-hint', map.getContainer());
    this.hint.textContent = config.basemapHint;
    this.hint.style.display = 'none';   // until Python says whether a map is imported (nothing loads before)
    map.on('baselayerchange', (e) => this._changed(e.layer));
  }

  // msg: {map: {url, bounds, maxDataZoom, attribution} of the imported map or null, choice: the layer the
  // dispatcher chose last time ('streets' | 'online' | 'none') or null}.
  set(msg) {
    if (this.streets) {
      if (this.map.hasLayer(this.streets)) { this.map.removeLayer(this.streets); }
      this.streets = null;
    }
    const info = msg && msg.map && typeof msg.map.url === 'string' ? msg.map : null;
    this.info = info;
    if (info) { this.streets = this._streetsLayer(info); }
    if (msg && typeof msg.choice === 'string' && NAMES[msg.choice]) { this.chosen = msg.choice; }
    this.hint.style.display = info ? 'none' : 'block';
    this._rebuild();
  }

  _streetsLayer(info) {
    const layer = protomapsL.leafletLayer({
      url: info.url, maxDataZoom: info.maxDataZoom, levelDiff: LEVEL_DIFF, bounds: info.bounds,
      paintRules: paintRules(), labelRules: labelRules(), backgroundColor: LAND,
      attribution: escapeHtml(info.attribution), maxZoom: 20, noWrap: true,
      updateWhenZooming: false,  // not every intermediate zoom of an animation: each costs a full render
      keepBuffer: 1              // drawn tiles kept beyond the view: one row (Leaflet keeps two)
    });
    layer.ctName = 'streets';
    capDecodedTiles(layer, DECODED_TILES_KEPT);
    const started = new Map();
    layer.on('tileloadstart', (e) => {
      this.stats.requested += 1;
      started.set(e.tile, performance.now());
    });
    layer.on('tileload', (e) => {
      const t0 = started.get(e.tile);
      started.delete(e.tile);
      this.stats.loaded += 1;
      if (t0 !== undefined) {
        this.stats.ms.push(performance.now() - t0);
        if (this.stats.ms.length > RECENT_TILES) { this.stats.ms.shift(); }
      }
    });
    layer.on('tileerror', () => { this.stats.errors += 1; });
    layer.on('tileunload', (e) => { started.delete(e.tile); });
    return layer;
  }

  _byName() { return { streets: this.streets, online: this.online, none: this.none }; }

  // The control lists what exists; the layer shown is the dispatcher's choice if it exists, else the
  // imported streets, else the online tiles, else none.
  _rebuild() {
    const layers = {};
    const byName = this._byName();
    Object.keys(byName).forEach((k) => {
      if (byName[k]) { byName[k].ctName = k; layers[NAMES[k]] = byName[k]; }
    });
    if (this.control) { this.control.remove(); }
    this.control = L.control.layers(layers, null, { position: 'topright', collapsed: true }).addTo(this.map);
    let want = this.chosen && byName[this.chosen] ? this.chosen : null;
    if (!want) { want = this.streets ? 'streets' : (this.online ? 'online' : 'none'); }
    this.show(want);
  }

  // Show one of 'streets', 'online', 'none' (if it exists); false if it does not.
  show(name) {
    const byName = this._byName();
    const layer = byName[name];
    if (!layer) { return false; }
    this.programmatic = true;         // the control reports programmatic changes too: not a choice
    try {
      Object.keys(byName).forEach((k) => {
        if (byName[k] && byName[k] !== layer && this.map.hasLayer(byName[k])) { this.map.removeLayer(byName[k]); }
      });
      if (!this.map.hasLayer(layer)) { layer.addTo(this.map); }
    } finally {
      this.programmatic = false;
    }
    this._mark(name);
    return true;
  }

  _mark(name) {
    this.active = name;
    const el = this.map.getContainer();
    el.classList.toggle('ct-basemap-streets', name === 'streets');
    el.classList.toggle('ct-no-tiles', name === 'none');
  }

  _changed(layer) {
    if (this.programmatic || !layer || !layer.ctName) { return; }
    this._mark(layer.ctName);
    this.chosen = layer.ctName;
    this.onChosen(layer.ctName);
  }

  // Renders tiles [[z, x, y], ...] one at a time on detached canvases (diagnostics, `make bench`): the ms
  // each took from asking for it to its pixels (archive byte-range fetch, decode, label layout, paint),
  // null if it did not finish. protomaps-leaflet delays each tile by 3 ms per tile of distance from the
  // centre to schedule a view's tiles: that wait is not rendering, so it is off while probing.
  async probe(tiles) {
    const layer = this.streets;
    if (!layer) { return []; }
    const delay = layer.tileDelay;
    layer.tileDelay = 0;
    const out = [];
    try {
      for (let k = 0; k < tiles.length; k++) {
        const [z, x, y] = tiles[k].map(Number);
        const coords = L.point(x, y);
        coords.z = z;
        const el = document.createElement('canvas');
        el.key = 'probe/' + z + '/' + x + '/' + y;
        const t0 = performance.now();
        const finished = await new Promise((resolve) => {
          const timer = setTimeout(() => resolve(false), PROBE_TIMEOUT_MS);
          layer.renderTile(coords, el, el.key, () => { clearTimeout(timer); resolve(true); });
        });
        out.push(finished ? performance.now() - t0 : null);
      }
    } finally {
      layer.tileDelay = delay;
    }
    return out;
  }

  // The page's view of the basemap (diagnostics, tests, `make bench`).
  state() {
    const loading = this.streets ? Object.values(this.streets._tiles || {}).filter((t) => !t.loaded).length : 0;
    return {
      active: this.active, url: this.info ? this.info.url : null, online: !!this.online,
      hint: this.hint.style.display === 'none' ? null : this.hint.textContent,
      requested: this.stats.requested, loaded: this.stats.loaded, errors: this.stats.errors, loading: loading,
      tileMs: this.stats.ms.slice()
    };
  }
}
