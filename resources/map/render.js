/*
 * The fleet layer: one canvas over the map with every visible unit, and the frame pacing that
 * keeps units gliding between fixes without spending more than a third of the time drawing.
 *
 * What a frame shows: units of a status the dispatcher hid are left out (unless always shown);
 * zoomed out, crowded cells become clusters (density.js); the units that must be seen (the
 * tracked one, one found by search, any Python always shows, and dispatched / en-route /
 * on-scene ones) are never aggregated and are drawn above the clusters; zoomed in, call-sign
 * labels go beside the arrows where they fit (labels.js).
 */

import { nowMs, wallS } from './clock.js';
import { Density } from './density.js';
import { LABELS_FROM_ZOOM, Labels } from './labels.js';
import { projX, projY } from './projection.js';
import { ArrowStamper } from './sprites.js';

const ARROWS_FROM_ZOOM = 12;  // closer than this units are heading arrows, farther out small squares
const BIG_FLEET = 1500;       // above this, animate at ~30 fps: half the drawing, same smoothness to the eye
const HUGE_FLEET = 5000;      // above this, ~20 fps: without a GPU every frame is rasterised in software
const MAX_FRAME_GAP_MS = 250;
const MARGIN_PX = 12;         // units this far off the canvas still count as visible (part of an arrow shows)
const HIGHLIGHT_RING = { color: '#1565c0', r: 14, w: 3 };   // a unit hovered in a list or found by search
const HOVER_RING = { color: '#212121', r: 12, w: 2 };       // the unit under the mouse
const FLEET_PANE = 'ctFleet';
const FLEET_PANE_Z = 450;     // Leaflet's overlay pane is 400, shadows 500, markers 600
const TOP_MAX = 1000;         // units drawn above the clusters one by one; beyond, stamped with the rest
const TRACKED_LABEL_BOX = { dx: 16, dy: -10, h: 20, pad: 14 };  // where overlays/tracked.js puts its label

export class FleetLayer {
  // view: the shared view state (tracked, highlight, hover, live, zooming, hidden statuses);
  // config: the page config (which statuses are never aggregated); onDrawn(t, trackedIdx) runs
  // after each drawing (the tracked unit's DOM marker follows it).
  constructor(map, fleet, view, palette, config, onDrawn) {
    this.map = map;
    this.fleet = fleet;
    this.view = view;
    this.palette = palette;
    this.onDrawn = onDrawn;
    this.stamper = new ArrowStamper(palette);
    this.density = new Density(palette.colors.length + 1);   // each status, then stale
    this.labels = new Labels();
    this.neverAggregated = new Uint8Array(config.statusNames.length);
    config.neverAggregated.forEach((name) => {
      const si = config.statusIndex.get(name);
      if (si !== undefined) { this.neverAggregated[si] = 1; }
    });
    this.top = [];        // units drawn on their own above the clusters this frame
    this.candidates = new Int32Array(1024);
    this.colorOfCategory = (c) => (c === palette.stale ? palette.staleColor : palette.colors[c]);
    this.colorOfStatus = (si) => palette.colors[si];
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'ct-fleet-canvas';
    // In a pane of its own between the overlays (the pin's radius, trails) and the markers (the
    // incident pin, incidents, the tracked unit), so discs and labels never hide those markers.
    // The pane moves with the map while it is dragged; each drawing puts the canvas back at the
    // container's top-left (units are drawn in container pixels).
    const pane = map.createPane(FLEET_PANE);
    pane.style.zIndex = String(FLEET_PANE_Z);
    pane.style.pointerEvents = 'none';
    pane.appendChild(this.canvas);
    this.ctx = this.canvas.getContext('2d');
    this.dpr = 1;
    this.rafPending = false;
    this.lastFrameAt = 0;
    this.pos = [0, 0];
    this.groups = [];
    for (let g = 0; g < palette.groups; g++) { this.groups.push([]); }
    // what the page reports (diagnostics)
    this.drawn = 0;
    this.visible = 0;
    this.individual = 0;
    this.lastDrawMs = 0;
    this.frame = this.frame.bind(this);
    this.resize();
  }

  resize() {
    const size = this.map.getSize();
    this.dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(size.x * this.dpr);
    this.canvas.height = Math.round(size.y * this.dpr);
    this.canvas.style.width = size.x + 'px';
    this.canvas.style.height = size.y + 'px';
  }

  schedule() {
    if (!this.rafPending) { this.rafPending = true; window.requestAnimationFrame(this.frame); }
  }

  // The shortest time between two animation frames (dead reckoning between batches), for the
  // fleet's size and for what the last drawing cost: at most a third of the time goes to
  // drawing, however slow the machine. Batches are drawn when they arrive (drawNow).
  frameGapMs() {
    const n = this.fleet.n;
    const base = n > HUGE_FLEET ? 50 : (n > BIG_FLEET ? 30 : 0);
    return Math.min(MAX_FRAME_GAP_MS, Math.max(base, 3 * this.lastDrawMs));
  }

  frame() {
    this.rafPending = false;
    const t = nowMs();
    if (t - this.lastFrameAt < this.frameGapMs() && !this.view.zooming) { this.schedule(); return; }
    this.lastFrameAt = t;
    if (this.draw(t)) { this.schedule(); }
  }

  // Draws at once (a batch just arrived); the caller schedules the next frame if this returns true.
  drawNow(t) {
    const animating = this.draw(t);
    this.lastFrameAt = t;
    return animating;
  }

  // Projects every unit and sorts the visible ones: hidden by the filter, counted into a cluster
  // cell, drawn on top (must be seen), or into a colour group. Returns the tracked unit's index
  // (it is drawn as a DOM marker on top, not here) and whether some unit is still gliding.
  _project(t, size) {
    const map = this.map, fleet = this.fleet, view = this.view, palette = this.palette;
    const zoom = map.getZoom();
    const scale = 256 * Math.pow(2, zoom);
    const origin = map.getPixelBounds().min;
    const ox = origin.x, oy = origin.y;
    const now = wallS();
    const n = fleet.n, live = view.live, groups = this.groups, pos = this.pos, top = this.top;
    const density = this.density, hidden = view.hidden, never = this.neverAggregated;
    let animating = false, visible = 0, nc = 0;
    for (let g = 0; g < groups.length; g++) { groups[g].length = 0; }
    top.length = 0;
    if (this.candidates.length < n) { this.candidates = new Int32Array(n * 2); }
    const cand = this.candidates;
    density.begin(zoom, ox, oy, size);
    // Zoomed out, a unit counts if it is in a grid cell the canvas shows (part of): a cell cut by
    // the edge then aggregates like any other instead of spilling its units as arrows.
    const ext = density.active ? density.extent() : null;
    const x0 = ext ? ext.x0 : -MARGIN_PX, y0 = ext ? ext.y0 : -MARGIN_PX;
    const x1 = ext ? ext.x1 : size.x + MARGIN_PX, y1 = ext ? ext.y1 : size.y + MARGIN_PX;
    const trackedIdx = view.tracked !== null ? fleet.index.get(view.tracked) : undefined;
    const foundIdx = view.highlight !== null ? fleet.index.get(view.highlight) : undefined;
    for (let i = 0; i < n; i++) {
      if (fleet.place(i, t, pos)) { animating = true; }
      const x = projX(pos[1], scale) - ox, y = projY(pos[0], scale) - oy;
      fleet.sx[i] = x; fleet.sy[i] = y;
      fleet.agg[i] = 0;
      fleet.cell[i] = -1;
      const special = fleet.always[i] === 1 || i === trackedIdx || i === foundIdx;
      const st = fleet.status[i];
      if (x < x0 || y < y0 || x >= x1 || y >= y1 || (hidden[st] === 1 && !special)) {
        fleet.vis[i] = 0;
        fleet.labelled[i] = 0;
        continue;
      }
      fleet.vis[i] = 1;
      visible++;
      if (i === trackedIdx) { continue; }
      const g = palette.group(st, now - fleet.ts[i], live);
      if (special || never[st] === 1) {
        if (top.length < TOP_MAX) { top.push(i); continue; }
      } else if (density.active) {
        const k = density.add(x, y, g >> 1);   // the colour index: its status, or stale
        fleet.cell[i] = k;
        if (k >= 0) { cand[nc++] = i; continue; }
      }
      groups[g].push(i);
    }
    density.finish();
    for (let c = 0; c < nc; c++) {
      const i = cand[c];
      if (density.isCluster(fleet.cell[i])) {
        fleet.agg[i] = 1;
        fleet.labelled[i] = 0;
      } else {
        groups[palette.group(fleet.status[i], now - fleet.ts[i], live)].push(i);
      }
    }
    this.visible = visible;
    this.individual = visible - density.aggregated;
    return { trackedIdx: trackedIdx, animating: animating, now: now };
  }

  // Draws every visible unit; returns true while some unit is still gliding.
  draw(t) {
    const t0 = nowMs();
    const map = this.map, ctx = this.ctx, view = this.view, palette = this.palette;
    const size = map.getSize();
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, size.x, size.y);
    if (view.zooming) { return false; }
    L.DomUtil.setPosition(this.canvas, map.containerPointToLayerPoint([0, 0]));
    const p = this._project(t, size);
    const zoom = map.getZoom();
    const groupOf = (j) => palette.group(this.fleet.status[j], p.now - this.fleet.ts[j], view.live);
    if (zoom >= ARROWS_FROM_ZOOM) {
      // one pixel buffer, put on the canvas at once: arrows, then the cluster discs over them, then
      // the units that must be seen over those, then the labels
      const stamper = this.stamper;
      stamper.begin(ctx, this.dpr);
      stamper.stampArrows(this.fleet, this.groups);
      this.density.stamp(stamper, this.colorOfCategory, this.dpr);
      stamper.blendArrows(this.fleet, this.top, groupOf);
      this._labels(zoom, size, p.trackedIdx);
      stamper.put(ctx);
    } else {
      this._squares(this.groups);
      this.density.draw(ctx, this.colorOfCategory, this.dpr);
      this._squareList(this.top, groupOf);
      this.labels.begin(size);   // none this far out
    }
    ctx.globalAlpha = 1;
    this._ring(view.highlight, HIGHLIGHT_RING);
    this._ring(view.hover, HOVER_RING);
    this.onDrawn(t, p.trackedIdx);
    this.drawn += 1;
    this.lastDrawMs = nowMs() - t0;
    return p.animating;
  }

  _labels(zoom, size, trackedIdx) {
    const labels = this.labels, density = this.density, ctx = this.ctx, fleet = this.fleet;
    labels.begin(size);
    if (zoom < LABELS_FROM_ZOOM) { return; }
    if (trackedIdx !== undefined && fleet.vis[trackedIdx]) {   // its DOM label is there
      const b = TRACKED_LABEL_BOX, x = fleet.sx[trackedIdx] + b.dx, y = fleet.sy[trackedIdx] + b.dy;
      labels.block(x, y, x + labels.width(ctx, labels.text(fleet, trackedIdx)) + b.pad, y + b.h);
    }
    // the units that must be seen are labelled first, over cluster discs if need be; the others
    // only where no disc is
    labels.placeAll(ctx, fleet, this.top, []);
    for (let j = 0; j < density.nClusters; j++) {
      const r = density.cr[j];
      labels.block(density.cx[j] - r, density.cy[j] - r, density.cx[j] + r, density.cy[j] + r);
    }
    labels.placeAll(ctx, fleet, [], this.groups);
    labels.stamp(this.stamper, fleet, this.colorOfStatus, this.dpr);
  }

  _squares(groups) {
    const ctx = this.ctx, fleet = this.fleet, palette = this.palette;
    for (let g = 0; g < groups.length; g++) {
      const list = groups[g];
      if (!list.length) { continue; }
      ctx.fillStyle = palette.color(g);
      ctx.globalAlpha = palette.alpha(g);
      ctx.beginPath();
      for (let k = 0; k < list.length; k++) {
        const j = list[k];
        ctx.rect(fleet.sx[j] - 2.5, fleet.sy[j] - 2.5, 5, 5);
      }
      ctx.fill();
    }
  }

  // Squares one by one (the few units drawn above the clusters), a little bigger, outlined.
  _squareList(list, groupOf) {
    const ctx = this.ctx, fleet = this.fleet, palette = this.palette;
    ctx.strokeStyle = '#ffffff';
    ctx.lineWidth = 1;
    for (let k = 0; k < list.length; k++) {
      const j = list[k], g = groupOf(j);
      ctx.fillStyle = palette.color(g);
      ctx.globalAlpha = palette.alpha(g);
      ctx.fillRect(fleet.sx[j] - 3.5, fleet.sy[j] - 3.5, 7, 7);
      ctx.strokeRect(fleet.sx[j] - 3.5, fleet.sy[j] - 3.5, 7, 7);
    }
  }

  _ring(id, ring) {
    if (id === null) { return; }
    const fleet = this.fleet;
    const i = fleet.index.get(id);
    if (i === undefined || !fleet.vis[i] || fleet.agg[i]) { return; }
    const ctx = this.ctx;
    ctx.beginPath();
    ctx.arc(fleet.sx[i], fleet.sy[i], ring.r, 0, 2 * Math.PI);
    ctx.strokeStyle = ring.color;
    ctx.lineWidth = ring.w;
    ctx.stroke();
  }
}
