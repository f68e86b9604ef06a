/*
 * Call-sign labels beside the arrows, decluttered: a label is placed only where it overlaps no
 * other label (tried right of the arrow, then left, above, below), so labels never cover each
 * other; a unit whose label does not fit simply has none. Units that must be seen (always shown,
 * assigned) are placed first, over cluster discs if need be; then, only where no disc is, those
 * labelled in the last frame (labels do not hop between neighbours as units move), then the rest. Collision checks go through a
 * coarse grid of the placed boxes, so each try looks at a few boxes, not at all of them.
 * Text is drawn on the canvas (never markup).
 */

import { SpriteCache } from './spritecache.js';

export const LABELS_FROM_ZOOM = 12;   // the zoom from which units are arrows
const FONT = '600 11px system-ui, "DejaVu Sans", sans-serif';
const H_PX = 15;
const PAD_PX = 4;
const STRIPE_PX = 3;      // the status colour down the label's left edge
const GAP_PX = 9;         // from the unit's centre (clear of its arrow)
const GRID_PX = 64;
const MAX_LABELS = 400;   // per frame: beyond that the map is too busy to read more anyway
const MAX_TRIES = 4000;   // units considered per frame
const MAX_SIGN_CHARS = 24;
const WIDTH_CACHE_MAX = 100000;
const SPRITES_MAX = 2000;      // drawn labels kept as bitmaps (call sign x status)
const BOX_FILL = 'rgba(255, 255, 255, 0.88)';
const TEXT_FILL = '#1a1a1a';

export class Labels {
  constructor() {
    this.widths = new Map();   // text -> measured width (call signs rarely change)
    this.sprites = new SpriteCache(SPRITES_MAX);
    this.boxes = [];           // [x0, y0, x1, y1] of placed labels and obstacles
    this.placed = [];          // {i, x0, y0, x1, y1, text} drawn this frame
    this.grid = [];
    this.cols = 0;
    this.rows = 0;
    this.tries = 0;
  }

  begin(size) {
    this.W = size.x;
    this.H = size.y;
    this.cols = Math.ceil(size.x / GRID_PX) + 1;
    this.rows = Math.ceil(size.y / GRID_PX) + 1;
    const cells = this.cols * this.rows;
    for (let k = 0; k < cells; k++) {
      if (this.grid[k]) { this.grid[k].length = 0; } else { this.grid[k] = []; }
    }
    this.boxes.length = 0;
    this.placed.length = 0;
    this.tries = 0;
  }

  text(fleet, i) {
    const s = fleet.signs[i];
    return s.length > MAX_SIGN_CHARS ? s.slice(0, MAX_SIGN_CHARS - 1) + '\u2026' : s;
  }

  width(ctx, text) {
    let w = this.widths.get(text);
    if (w === undefined) {
      if (this.widths.size > WIDTH_CACHE_MAX) { this.widths.clear(); }
      ctx.font = FONT;
      w = Math.ceil(ctx.measureText(text).width);
      this.widths.set(text, w);
    }
    return w;
  }

  _cells(x0, y0, x1, y1, visit) {
    const c0 = Math.max(0, Math.floor(x0 / GRID_PX)), c1 = Math.min(this.cols - 1, Math.floor(x1 / GRID_PX));
    const r0 = Math.max(0, Math.floor(y0 / GRID_PX)), r1 = Math.min(this.rows - 1, Math.floor(y1 / GRID_PX));
    for (let r = r0; r <= r1; r++) {
      for (let c = c0; c <= c1; c++) {
        if (visit(this.grid[r * this.cols + c])) { return true; }
      }
    }
    return false;
  }

  // Something labels must not cover (a cluster disc, the tracked unit's own label).
  block(x0, y0, x1, y1) {
    const b = this.boxes.length;
    this.boxes.push([x0, y0, x1, y1]);
    this._cells(x0, y0, x1, y1, (cell) => { cell.push(b); return false; });
  }

  _free(x0, y0, x1, y1) {
    if (x0 < 0 || y0 < 0 || x1 > this.W || y1 > this.H) { return false; }
    const boxes = this.boxes;
    return !this._cells(x0, y0, x1, y1, (cell) => {
      for (let q = 0; q < cell.length; q++) {
        const o = boxes[cell[q]];
        if (x0 < o[2] && o[0] < x1 && y0 < o[3] && o[1] < y1) { return true; }
      }
      return false;
    });
  }

  // Places unit i's label beside it if there is room; returns whether it was placed.
  place(ctx, fleet, i) {
    if (this.placed.length >= MAX_LABELS || this.tries >= MAX_TRIES) { return false; }
    this.tries += 1;
    const text = this.text(fleet, i);
    const w = this.width(ctx, text) + 2 * PAD_PX + STRIPE_PX;
    const x = fleet.sx[i], y = fleet.sy[i];
    const spots = [
      [x + GAP_PX, y - H_PX / 2], [x - GAP_PX - w, y - H_PX / 2],
      [x - w / 2, y - GAP_PX - H_PX], [x - w / 2, y + GAP_PX]
    ];
    for (let s = 0; s < spots.length; s++) {
      const x0 = Math.round(spots[s][0]), y0 = Math.round(spots[s][1]);
      if (this._free(x0, y0, x0 + w, y0 + H_PX)) {
        this.block(x0, y0, x0 + w, y0 + H_PX);
        this.placed.push({ i: i, x0: x0, y0: y0, x1: x0 + w, y1: y0 + H_PX, text: text });
        return true;
      }
    }
    return false;
  }

  // Labels for the units in `first`, then for those in `lists` (arrays of indices) labelled in the
  // last frame, then for the others. Leaves fleet.labelled at 1 for the units labelled now, 0 for
  // the others tried (the fleet layer clears it for units not drawn on their own).
  // (May be called more than once a frame, with obstacles added in between.)
  placeAll(ctx, fleet, first, lists) {
    const labelled = fleet.labelled;
    for (let k = 0; k < first.length; k++) { labelled[first[k]] = this.place(ctx, fleet, first[k]) ? 2 : 3; }
    for (let pass = 1; pass >= 0; pass--) {   // those labelled last frame (1), then the rest (0)
      for (let l = 0; l < lists.length; l++) {
        const list = lists[l];
        for (let k = 0; k < list.length; k++) {
          const i = list[k];
          if (labelled[i] === pass) { labelled[i] = this.place(ctx, fleet, i) ? 2 : 3; }
        }
      }
    }
    for (let k = 0; k < first.length; k++) { labelled[first[k]] = labelled[first[k]] === 2 ? 1 : 0; }
    for (let l = 0; l < lists.length; l++) {
      const list = lists[l];
      for (let k = 0; k < list.length; k++) { labelled[list[k]] = labelled[list[k]] === 2 ? 1 : 0; }
    }
  }

  // The placed labels into the fleet layer's pixel buffer (sprites.js), each a cached bitmap.
  stamp(stamper, fleet, colorOf, dpr) {
    const placed = this.placed;
    for (let p = 0; p < placed.length; p++) {
      const b = placed[p], st = fleet.status[b.i], w = b.x1 - b.x0;
      const s = this.sprites.get(b.text + '|' + st, w, H_PX, dpr, (g) => paintLabel(g, b.text, w, colorOf(st)));
      stamper.stampBitmap(SpriteCache.words(s), b.x0, b.y0);
    }
  }

  // What was placed (diagnostics: the tests check that no two overlap).
  report(fleet) {
    return this.placed.map((b) => ({ id: fleet.ids[b.i], x0: b.x0, y0: b.y0, x1: b.x1, y1: b.y1 }));
  }
}

// One label: a white box, the status colour down its left edge, the call sign.
function paintLabel(g, text, w, color) {
  g.fillStyle = BOX_FILL;
  g.fillRect(0, 0, w, H_PX);
  g.fillStyle = color;
  g.fillRect(0, 0, STRIPE_PX, H_PX);
  g.font = FONT;
  g.textAlign = 'left';
  g.textBaseline = 'middle';
  g.fillStyle = TEXT_FILL;
  g.fillText(text, STRIPE_PX + PAD_PX, H_PX / 2 + 0.5);
}
