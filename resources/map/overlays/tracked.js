/*
 * The tracked unit: a DOM marker (arrow + call sign) on top of the fleet canvas, moved with every
 * drawing, and the map kept centred on it while following.
 */

import { wallS } from '../clock.js';
import { domMarker } from './marker.js';

const FOLLOW_ZOOM = 15;   // tracking with follow zooms in at least this far

export class TrackedLayer {
  constructor(map, fleet, view, palette) {
    this.map = map;
    this.fleet = fleet;
    this.view = view;
    this.palette = palette;
    this.m = null;   // built on first use, then added and removed
  }

  // A new tracked unit (or none); centres on it at once when following.
  track(id, follow, t) {
    const view = this.view;
    view.tracked = id;
    view.following = follow;
    if (id === null || !follow) { return; }
    const i = this.fleet.index.get(id);
    if (i !== undefined) {
      this.map.setView(this.fleet.displayed(i, t), Math.max(this.map.getZoom(), FOLLOW_ZOOM), { animate: false });
    }
  }

  // After each drawing: the marker where the unit is drawn (idx: its index, undefined if none).
  update(t, idx) {
    const view = this.view, fleet = this.fleet, map = this.map;
    if (view.tracked === null || idx === undefined) { this.remove(); return; }
    if (!this.m) {
      this.m = domMarker([0, 0], {
        kind: 'tracked', glyph: 'arrow', label: true, iconClass: 'ct-tracked-icon', size: 28, anchor: [14, 14],
        zIndexOffset: 10000
      });
    }
    const m = this.m;
    const pos = fleet.displayed(idx, t);
    if (!map.hasLayer(m.marker)) { m.marker.addTo(map); }
    m.marker.setLatLng(pos);
    m.glyph.style.transform = 'rotate(' + fleet.hdg[idx] + 'deg)';
    const age = wallS() - fleet.ts[idx];
    m.glyph.style.fill = this.palette.unitColor(fleet.status[idx], age, view.live);
    m.root.classList.toggle('ct-faded', age >= this.palette.fadeS);
    if (m.label.textContent !== fleet.signs[idx]) { m.label.textContent = fleet.signs[idx]; }
    if (view.following && !view.zooming) {
      const c = map.getSize();
      const p = map.latLngToContainerPoint(pos);
      const dx = p.x - c.x / 2, dy = p.y - c.y / 2;
      if (Math.abs(dx) > 0.5 || Math.abs(dy) > 0.5) {
        map.panBy([dx, dy], { animate: false });
      }
    }
  }

  remove() {
    if (this.m && this.map.hasLayer(this.m.marker)) { this.map.removeLayer(this.m.marker); }
  }

  // The label's text as the page shows it (diagnostics), null before the first tracked unit.
  label() {
    return this.m ? this.m.label.textContent : null;
  }
}
