/*
 * Density: zoomed out, units that share a cell of a grid fixed to the map (CELL_PX square at the
 * current zoom, anchored in world pixels so panning does not reshuffle it) are drawn as one
 * cluster once CLUSTER_MIN of them are there: a disc with the count, ringed by one arc per status
 * (and one for stale units) in proportion, so "12 available, 3 out of service here" reads at a
 * glance. From NO_CLUSTERS_FROM_ZOOM on every unit is drawn on its own.
 *
 * Which units may be aggregated is decided by the fleet layer (render.js): never the tracked
 * unit, a unit found by search, one Python always shows (e.g. in alarm), nor a dispatched, en-route
 * or on-scene one (config.neverAggregated); traccar-web#1156 is what happens otherwise.
 *
 * Cost: binning is one division per unit in the projection pass the frame makes anyway (typed
 * arrays, no allocation per unit), and a clustered cell costs one disc instead of its arrows, so a
 * crowded frame gets cheaper, not dearer (`make bench`, map_apply, and the page's drawMs).
 */

import { SpriteCache } from './spritecache.js';

export const CELL_PX = 80;               // cluster cell side, in screen pixels
export const CLUSTER_MIN = 4;            // this many aggregable units in a cell make a cluster
export const NO_CLUSTERS_FROM_ZOOM = 17; // from this zoom on, every unit is drawn on its own
const RING_PX = 5;
const MIN_R_PX = 13;
const MAX_R_PX = 24;                     // < CELL_PX / 2: a disc kept inside its cell overlaps no other
const FONT = '700 11px system-ui, "DejaVu Sans", sans-serif';
const DISC_FILL = 'rgba(255, 255, 255, 0.94)';
const TEXT_FILL = '#212121';
const EDGE = 'rgba(0, 0, 0, 0.35)';
const RING_STEPS = 72;         // ring shares are drawn to 5 degrees: clusters alike share one bitmap
const SPRITES_MAX = 600;

// "7", "950", "1.2k", "12k": the count as it fits in a disc.
export function countText(n) {
  if (n < 1000) { return String(n); }
  if (n < 10000) { return (Math.round(n / 100) / 10).toFixed(1).replace(/\.0$/, '') + 'k'; }
  return Math.round(n / 1000) + 'k';
}

export class Density {
  // categories: colour indices a unit can be counted under (each status, then stale)
  constructor(categories) {
    this.C = categories;
    this.active = false;
    this.zoom = 0;
    this.cols = 0;
    this.rows = 0;
    this.cap = 0;
    this.nClusters = 0;
    this.aggregated = 0;
    this.sprites = new SpriteCache(SPRITES_MAX);
    this._grow(256);
  }

  _grow(cells) {
    this.cap = cells;
    this.count = new Int32Array(cells);
    this.byCat = new Int32Array(cells * this.C);
    this.sumX = new Float64Array(cells);
    this.sumY = new Float64Array(cells);
    this.clusterOf = new Int32Array(cells);
    this.cellOf = new Int32Array(cells);      // cluster j -> its cell
    this.cx = new Float32Array(cells);        // cluster j's disc
    this.cy = new Float32Array(cells);
    this.cr = new Float32Array(cells);
  }

  // A new frame: the grid over the map's pixel bounds (world pixels ox, oy at the top-left).
  begin(zoom, ox, oy, size) {
    this.active = zoom < NO_CLUSTERS_FROM_ZOOM;
    this.zoom = zoom;
    this.ox = ox;
    this.oy = oy;
    this.c0 = Math.floor(ox / CELL_PX);   // the cells the canvas shows, whole or in part
    this.r0 = Math.floor(oy / CELL_PX);
    this.cols = Math.floor((ox + size.x - 1) / CELL_PX) - this.c0 + 1;
    this.rows = Math.floor((oy + size.y - 1) / CELL_PX) - this.r0 + 1;
    const cells = this.cols * this.rows;
    if (cells > this.cap) { this._grow(cells * 2); }
    this.count.fill(0, 0, cells);
    this.sumX.fill(0, 0, cells);
    this.sumY.fill(0, 0, cells);
    this.byCat.fill(0, 0, cells * this.C);
    this.nClusters = 0;
    this.aggregated = 0;
  }

  // The grid's extent in container pixels (whole cells: it reaches past the canvas's edges).
  extent() {
    const x0 = this.c0 * CELL_PX - this.ox, y0 = this.r0 * CELL_PX - this.oy;
    return { x0: x0, y0: y0, x1: x0 + this.cols * CELL_PX, y1: y0 + this.rows * CELL_PX };
  }

  // Counts a unit that may be aggregated, at container pixel (x, y), under category cat; returns
  // its cell (-1 off the grid).
  add(x, y, cat) {
    const c = Math.floor((x + this.ox) / CELL_PX) - this.c0;
    const r = Math.floor((y + this.oy) / CELL_PX) - this.r0;
    if (c < 0 || r < 0 || c >= this.cols || r >= this.rows) { return -1; }
    const k = r * this.cols + c;
    this.count[k] += 1;
    this.sumX[k] += x;
    this.sumY[k] += y;
    this.byCat[k * this.C + cat] += 1;
    return k;
  }

  // Which cells are clusters, and where each disc goes: at its units' centroid, kept inside its
  // cell (so no two discs overlap), sized by the count.
  finish() {
    const cells = this.cols * this.rows;
    let j = 0;
    for (let k = 0; k < cells; k++) {
      const n = this.count[k];
      if (n < CLUSTER_MIN) { this.clusterOf[k] = -1; continue; }
      const r = Math.min(MAX_R_PX, MIN_R_PX + 2.5 * Math.log10(n));
      const left = (this.c0 + (k % this.cols)) * CELL_PX - this.ox;
      const top = (this.r0 + Math.floor(k / this.cols)) * CELL_PX - this.oy;
      this.cx[j] = Math.min(left + CELL_PX - r, Math.max(left + r, this.sumX[k] / n));
      this.cy[j] = Math.min(top + CELL_PX - r, Math.max(top + r, this.sumY[k] / n));
      this.cr[j] = r;
      this.cellOf[j] = k;
      this.clusterOf[k] = j;
      this.aggregated += n;
      j++;
    }
    this.nClusters = j;
  }

  isCluster(k) { return k >= 0 && this.clusterOf[k] >= 0; }

  // The cluster whose disc is under container point (x, y), or -1.
  hit(x, y) {
    for (let j = 0; j < this.nClusters; j++) {
      const dx = this.cx[j] - x, dy = this.cy[j] - y, r = this.cr[j];
      if (dx * dx + dy * dy <= r * r) { return j; }
    }
    return -1;
  }

  // A cluster's name while the zoom stays: its cell in world coordinates.
  key(j) {
    const k = this.cellOf[j];
    return this.zoom + '/' + (this.c0 + (k % this.cols)) + '/' + (this.r0 + Math.floor(k / this.cols));
  }

  indexOf(key) {
    for (let j = 0; j < this.nClusters; j++) { if (this.key(j) === key) { return j; } }
    return -1;
  }

  // How many of cluster j's units are in each category.
  counts(j) {
    const base = this.cellOf[j] * this.C;
    return Array.from(this.byCat.subarray(base, base + this.C));
  }

  size(j) { return this.count[this.cellOf[j]]; }

  // Each category's share of cluster j's ring in RING_STEPS (at least one step for any present).
  _shares(j) {
    const C = this.C, base = this.cellOf[j] * C, n = this.count[this.cellOf[j]], out = [];
    let left = RING_STEPS;
    for (let c = 0; c < C; c++) {
      const m = this.byCat[base + c];
      const q = m ? Math.max(1, Math.round(RING_STEPS * m / n)) : 0;
      out.push(Math.min(q, left));
      left -= out[c];
    }
    for (let c = C - 1; c >= 0 && left > 0; c--) { if (out[c]) { out[c] += left; left = 0; } }
    return out;
  }

  // Cluster j's bitmap (disc, ring, count), from the cache.
  sprite(j, colorOf, dpr) {
    const n = this.count[this.cellOf[j]], r = Math.round(this.cr[j] * 2) / 2;
    const text = countText(n), shares = this._shares(j);
    const side = Math.ceil(2 * r + 2);
    return this.sprites.get(text + '|' + r + '|' + shares.join(','), side, side, dpr,
      (g) => paintDisc(g, side / 2, r, text, shares, colorOf));
  }

  // Every cluster into the fleet layer's pixel buffer (sprites.js), over the arrows.
  stamp(stamper, colorOf, dpr) {
    for (let j = 0; j < this.nClusters; j++) {
      const s = SpriteCache.words(this.sprite(j, colorOf, dpr));
      stamper.stampBitmap(s, Math.round(this.cx[j] - s.w / 2), Math.round(this.cy[j] - s.h / 2));
    }
  }

  // Every cluster drawn on the canvas (zoomed out, where units are squares drawn as paths).
  draw(ctx, colorOf, dpr) {
    ctx.globalAlpha = 1;
    for (let j = 0; j < this.nClusters; j++) {
      const s = this.sprite(j, colorOf, dpr);
      ctx.drawImage(s.canvas, Math.round(this.cx[j] - s.w / 2), Math.round(this.cy[j] - s.h / 2), s.w, s.h);
    }
  }
}

// One cluster's disc at (c, c): white, a thin edge, the ring split by shares, the count.
function paintDisc(g, c, r, text, shares, colorOf) {
  g.beginPath();
  g.arc(c, c, r, 0, 2 * Math.PI);
  g.fillStyle = DISC_FILL;
  g.fill();
  g.lineWidth = 1;
  g.strokeStyle = EDGE;
  g.stroke();
  g.lineWidth = RING_PX;
  let a = -Math.PI / 2;
  shares.forEach((q, cat) => {
    if (!q) { return; }
    const b = a + 2 * Math.PI * q / RING_STEPS;
    g.beginPath();
    g.arc(c, c, r - RING_PX / 2 - 0.5, a, b);
    g.strokeStyle = colorOf(cat);
    g.stroke();
    a = b;
  });
  g.font = FONT;
  g.textAlign = 'center';
  g.textBaseline = 'middle';
  g.fillStyle = TEXT_FILL;
  g.fillText(text, c, c + 0.5);
}
