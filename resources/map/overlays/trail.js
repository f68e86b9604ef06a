/* The tracked unit's trail: its fixes of the last TRAIL_S seconds as a dashed line. */

import { wallS } from '../clock.js';

const TRAIL_S = 60;

export class TrailLayer {
  constructor(map, fleet, view) {
    this.map = map;
    this.fleet = fleet;
    this.view = view;
    this.line = null;   // added on first use, then emptied rather than removed
  }

  // Redrawn when a batch arrives, when tracking changes and every second (fixes age out).
  refresh() {
    if (this.view.tracked === null) { this.remove(); return; }
    const i = this.fleet.index.get(this.view.tracked);
    if (i === undefined) { return; }
    if (!this.line) {
      this.line = L.polyline([], { color: '#1565c0', weight: 3, opacity: 0.7, dashArray: '4 6', interactive: false });
      this.line.addTo(this.map);
    }
    this.line.setLatLngs(this.fleet.trail(i, wallS() - TRAIL_S));
  }

  remove() {
    if (this.line) { this.line.setLatLngs([]); }
  }

  // Unit i's fixes the trail would show, oldest first (diagnostics).
  points(i) {
    return this.fleet.trail(i, wallS() - TRAIL_S);
  }
}
