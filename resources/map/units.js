/*
 * The unit store: every live unit as a row of typed arrays (struct of arrays), so 10,000 units
 * cost a few arrays rather than 10,000 objects, plus where each one is drawn between fixes.
 */

const CORRECT_MS = 300;           // a new fix blends in from where the unit was drawn over this long
const MAX_EXTRAPOLATE_MS = 2500;  // dead reckoning between fixes stops this long after the last one
const M_PER_DEG = 111320;
const MPH_TO_MPMS = 0.44704 / 1000;
export const TRAIL_N = 64;        // ring slots per unit (>= the 60 s trail at 1 Hz)
const GROWTH = 1.5;               // capacity grows by half: 10,000 units take 11,664 rows, not 16,384
const TRAIL_TS_PER_S = 10;        // trail fix times are kept in tenths of a second from the first fix

const F64 = Float64Array;
const F32 = Float32Array;
// One value per unit. Written once: allocation, growth and removal all go through these lists.
const COLUMNS = {
  fixLat: F64, fixLng: F64, offLat: F64, offLng: F64, vLat: F64, vLng: F64, t0: F64, ts: F64,
  hdg: F32, spd: F32, sx: F32, sy: F32, status: Uint8Array, vis: Uint8Array,
  agg: Uint8Array,       // 1: drawn inside a cluster this frame (density.js), not on its own
  cell: Int32Array,      // its cluster cell this frame (density.js), -1 outside the grid
  always: Uint8Array,    // 1: always shown (Python's list: tracked, alarm...): never filtered or aggregated
  labelled: Uint8Array,  // 1: had a call-sign label last frame (labels.js keeps it first in line)
  trHead: Uint16Array, trLen: Uint16Array
};
// TRAIL_N values per unit: the ring of its recent fixes, as 32-bit integers (the rings are most of the
// store: three Float64 columns were 25 MB at 10,000 units). Positions in micro-degrees, the wire's own
// precision; times in tenths of a second after the store's first fix (Int32: 6.8 years either way).
const TRAIL_COLUMNS = { trLat: Int32Array, trLng: Int32Array, trTs: Int32Array };
const COLUMN_NAMES = Object.keys(COLUMNS);
const TRAIL_COLUMN_NAMES = Object.keys(TRAIL_COLUMNS);

const scratch = [0, 0];

export class Units {
  // statusIndex: status name -> index into the config's status list (unknown names: 0).
  constructor(capacity, statusIndex) {
    this.n = 0;
    this.cap = 0;
    this.index = new Map();
    this.ids = [];
    this.signs = [];
    this.statusIndex = statusIndex;
    this.pendingMeta = new Map();   // call sign and status of units without a fix yet
    this.alwaysIds = new Set();     // ids Python always shows (units not here yet get the flag on arrival)
    this.trTs0 = null;              // wall-clock seconds of trail time 0 (the first fix's)
    this._alloc(capacity);
  }

  _alloc(cap) {
    const n = this.n;
    for (const k of COLUMN_NAMES) {
      const a = new COLUMNS[k](cap);
      if (this.cap) { a.set(this[k].subarray(0, n)); }
      this[k] = a;
    }
    for (const k of TRAIL_COLUMN_NAMES) {
      const a = new TRAIL_COLUMNS[k](cap * TRAIL_N);
      if (this.cap) { a.set(this[k].subarray(0, n * TRAIL_N)); }
      this[k] = a;
    }
    this.cap = cap;
  }

  slot(id) {
    let i = this.index.get(id);
    if (i !== undefined) { return i; }
    if (this.n === this.cap) { this._alloc(Math.ceil(this.cap * GROWTH)); }
    i = this.n++;
    this.index.set(id, i);
    this.ids[i] = id;
    this.signs[i] = id;
    this.status[i] = 0;
    this.agg[i] = 0;
    this.cell[i] = -1;
    this.labelled[i] = 0;
    this.always[i] = this.alwaysIds.has(id) ? 1 : 0;
    this.trHead[i] = 0;
    this.trLen[i] = 0;
    this.t0[i] = -1;
    const meta = this.pendingMeta.get(id);
    if (meta !== undefined) {
      this.pendingMeta.delete(id);
      this._applyMeta(i, id, meta);
    }
    return i;
  }

  remove(id) {
    const i = this.index.get(id);
    if (i === undefined) { return; }
    const last = this.n - 1;
    if (i !== last) {   // the last row moves into the hole
      for (const k of COLUMN_NAMES) { this[k][i] = this[k][last]; }
      for (const k of TRAIL_COLUMN_NAMES) {
        this[k].copyWithin(i * TRAIL_N, last * TRAIL_N, (last + 1) * TRAIL_N);
      }
      this.ids[i] = this.ids[last];
      this.signs[i] = this.signs[last];
      this.index.set(this.ids[i], i);
    }
    this.ids.length = last;
    this.signs.length = last;
    this.index.delete(id);
    this.n = last;
  }

  // The units Python always shows (never filtered, never aggregated), as a flag per unit.
  setAlways(ids) {
    this.alwaysIds = new Set(ids);
    for (let i = 0; i < this.n; i++) { this.always[i] = this.alwaysIds.has(this.ids[i]) ? 1 : 0; }
  }

  // Call sign and status of one unit; kept until the unit's first fix if it has none yet.
  setMeta(id, meta) {
    const i = this.index.get(id);
    if (i === undefined) { this.pendingMeta.set(id, meta); return; }
    this._applyMeta(i, id, meta);
  }

  _applyMeta(i, id, meta) {
    this.signs[i] = typeof meta.sign === 'string' ? meta.sign : id;
    const si = this.statusIndex.get(meta.status);
    this.status[i] = si === undefined ? 0 : si;
  }

  // Where unit i is drawn at page time t: its last fix, moved on by its speed and heading (dead
  // reckoning, so units glide without lagging a fix behind), plus what is left of the blend from
  // where it was drawn when the fix arrived. Written to out[0], out[1] (no allocation per call);
  // returns whether it is still moving on screen.
  place(i, t, out) {
    const dt = t - this.t0[i];
    const ex = dt < MAX_EXTRAPOLATE_MS ? dt : MAX_EXTRAPOLATE_MS;
    const k = dt < CORRECT_MS ? 1 - dt / CORRECT_MS : 0;
    out[0] = this.fixLat[i] + this.vLat[i] * ex + this.offLat[i] * k;
    out[1] = this.fixLng[i] + this.vLng[i] * ex + this.offLng[i] * k;
    return dt < MAX_EXTRAPOLATE_MS && (this.spd[i] > 0 || k > 0);
  }

  displayed(i, t) {
    const out = [0, 0];
    this.place(i, t, out);
    return out;
  }

  update(id, lat, lng, hdg, spd, ts, t) {
    const i = this.slot(id);
    if (this.t0[i] < 0) {
      this.offLat[i] = 0; this.offLng[i] = 0;
    } else {
      this.place(i, t, scratch);
      this.offLat[i] = scratch[0] - lat; this.offLng[i] = scratch[1] - lng;
    }
    const v = spd * MPH_TO_MPMS;
    const a = hdg * Math.PI / 180;
    this.vLat[i] = v * Math.cos(a) / M_PER_DEG;
    this.vLng[i] = v * Math.sin(a) / (M_PER_DEG * Math.cos(lat * Math.PI / 180));
    this.fixLat[i] = lat; this.fixLng[i] = lng; this.t0[i] = t;
    this.hdg[i] = hdg; this.spd[i] = spd; this.ts[i] = ts;
    const base = i * TRAIL_N;
    const h = this.trHead[i];
    if (this.trTs0 === null) { this.trTs0 = ts; }
    this.trLat[base + h] = Math.round(lat * 1e6);
    this.trLng[base + h] = Math.round(lng * 1e6);
    this.trTs[base + h] = Math.round((ts - this.trTs0) * TRAIL_TS_PER_S);
    this.trHead[i] = (h + 1) % TRAIL_N;
    if (this.trLen[i] < TRAIL_N) { this.trLen[i] += 1; }
  }

  // Unit i's fixes since sinceTs (wall-clock seconds, to a tenth), oldest first, as [lat, lng] pairs.
  trail(i, sinceTs) {
    const out = [];
    if (this.trTs0 === null) { return out; }
    const since = Math.round((sinceTs - this.trTs0) * TRAIL_TS_PER_S);
    const base = i * TRAIL_N;
    const len = this.trLen[i];
    const head = this.trHead[i];
    for (let k = len; k >= 1; k--) {
      const j = base + ((head - k + TRAIL_N) % TRAIL_N);
      if (this.trTs[j] >= since) { out.push([this.trLat[j] / 1e6, this.trLng[j] / 1e6]); }
    }
    return out;
  }
}
