/*
 * The fleet layer: one canvas over the map with every visible unit, and the frame pacing that
 * keeps units gliding between fixes without spending more than a third of the time drawing.
 */

import { nowMs, wallS } from './clock.js';
import { projX, projY } from './projection.js';
import { ArrowStamper } from './sprites.js';

const ARROWS_FROM_ZOOM = 12;  // closer than this units are heading arrows, farther out small squares
const BIG_FLEET = 1500;       // above this, animate at ~30 fps: half the drawing, same smoothness to the eye
const HUGE_FLEET = 5000;      // above this, ~20 fps: without a GPU every frame is rasterised in software
const MAX_FRAME_GAP_MS = 250;
const MARGIN_PX = 12;         // units this far off the canvas still count as visible (part of an arrow shows)
const HIGHLIGHT_RING = { color: '#1565c0', r: 14, w: 3 };   // a unit hovered in a list or found by search
const HOVER_RING = { color: '#212121', r: 12, w: 2 };       // the unit under the mouse

export class FleetLayer {
  // view: the shared view state (tracked, highlight, hover, live, zooming); onDrawn(t, trackedIdx)
  // runs after each drawing (the tracked unit's DOM marker follows it).
  constructor(map, fleet, view, palette, onDrawn) {
    this.map = map;
    this.fleet = fleet;
    this.view = view;
    this.palette = palette;
    this.onDrawn = onDrawn;
    this.stamper = new ArrowStamper(palette);
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'ct-fleet-canvas';
    map.getContainer().appendChild(this.canvas);
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

  // Projects every unit, sorts the visible ones into colour groups; returns the tracked unit's
  // index (it is drawn as a DOM marker on top, not here) and whether some unit is still gliding.
  _project(t, size) {
    const map = this.map, fleet = this.fleet, view = this.view, palette = this.palette;
    const scale = 256 * Math.pow(2, map.getZoom());
    const origin = map.getPixelBounds().min;
    const ox = origin.x, oy = origin.y;
    const now = wallS();
    const n = fleet.n, live = view.live, groups = this.groups, pos = this.pos;
    let animating = false, visible = 0;
    for (let g = 0; g < groups.length; g++) { groups[g].length = 0; }
    const trackedIdx = view.tracked !== null ? fleet.index.get(view.tracked) : undefined;
    for (let i = 0; i < n; i++) {
      if (fleet.place(i, t, pos)) { animating = true; }
      const x = projX(pos[1], scale) - ox, y = projY(pos[0], scale) - oy;
      fleet.sx[i] = x; fleet.sy[i] = y;
      if (x < -MARGIN_PX || y < -MARGIN_PX || x > size.x + MARGIN_PX || y > size.y + MARGIN_PX) {
        fleet.vis[i] = 0;
        continue;
      }
      fleet.vis[i] = 1;
      visible++;
      if (i === trackedIdx) { continue; }
      groups[palette.group(fleet.status[i], now - fleet.ts[i], live)].push(i);
    }
    this.visible = visible;
    return { trackedIdx: trackedIdx, animating: animating };
  }

  // Draws every visible unit; returns true while some unit is still gliding.
  draw(t) {
    const t0 = nowMs();
    const map = this.map, ctx = this.ctx;
    const size = map.getSize();
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, size.x, size.y);
    if (this.view.zooming) { return false; }
    const p = this._project(t, size);
    if (map.getZoom() >= ARROWS_FROM_ZOOM) {
      this.stamper.stampArrows(ctx, this.fleet, this.groups, this.dpr);
    } else {
      this._squares();
    }
    ctx.globalAlpha = 1;
    this._ring(this.view.highlight, HIGHLIGHT_RING);
    this._ring(this.view.hover, HOVER_RING);
    this.onDrawn(t, p.trackedIdx);
    this.drawn += 1;
    this.lastDrawMs = nowMs() - t0;
    return p.animating;
  }

  _squares() {
    const ctx = this.ctx, fleet = this.fleet, palette = this.palette;
    for (let g = 0; g < this.groups.length; g++) {
      const list = this.groups[g];
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

  _ring(id, ring) {
    if (id === null) { return; }
    const fleet = this.fleet;
    const i = fleet.index.get(id);
    if (i === undefined || !fleet.vis[i]) { return; }
    const ctx = this.ctx;
    ctx.beginPath();
    ctx.arc(fleet.sx[i], fleet.sy[i], ring.r, 0, 2 * Math.PI);
    ctx.strokeStyle = ring.color;
    ctx.lineWidth = ring.w;
    ctx.stroke();
  }
}
