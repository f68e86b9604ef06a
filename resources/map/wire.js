/*
 * The fleet batch wire format: the JavaScript twin of MapWire (services/fleet_view.py).
 *
 * Units travel as small integer codes; a code's id travels once, as newCodes/newIds. A batch with
 * `reset` (every `full` one, and one whose table would outgrow its bound) starts a new table. A
 * `full` batch lists every live unit: units it does not list are dropped. Positions are integers:
 * micro-degrees from (lat0, lng0), tenths of a degree / mph, ms after t0 (seconds). A code not in
 * the table is counted and skipped.
 */

export class WireDecoder {
  constructor() {
    this.codeIds = [];      // wire code -> unit id, for the current table
    this.unknownCodes = 0;
    this.lastSeq = 0;
    this.batches = 0;
  }

  // Applies batch b (parsed) to the unit store at page time t.
  apply(b, fleet, t) {
    if (b.reset) { this.codeIds = []; }
    const codeIds = this.codeIds;
    const newCodes = b.newCodes, newIds = b.newIds;
    for (let c = 0; c < newCodes.length; c++) { codeIds[newCodes[c]] = newIds[c]; }
    const codes = b.codes;
    if (b.full) {
      const keep = new Set();
      for (let k = 0; k < codes.length; k++) { keep.add(codeIds[codes[k]]); }
      fleet.ids.slice().forEach((id) => { if (!keep.has(id)) { fleet.remove(id); } });
    }
    const lat = b.lat, lng = b.lng, hdg = b.hdg, spd = b.spd, ts = b.ts;
    const t0 = b.t0, lat0 = b.lat0, lng0 = b.lng0;
    for (let k = 0; k < codes.length; k++) {
      const id = codeIds[codes[k]];
      if (id === undefined) { this.unknownCodes += 1; continue; }
      fleet.update(id, (lat0 + lat[k]) / 1e6, (lng0 + lng[k]) / 1e6, hdg[k] / 10, spd[k] / 10, t0 + ts[k] / 1000, t);
    }
    for (let g = 0; g < b.gone.length; g++) { fleet.remove(b.gone[g]); }
    this.lastSeq = b.seq;
    this.batches += 1;
  }
}
