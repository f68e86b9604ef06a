/* Open incidents: one marker each, coloured by priority; the active one outlined. */

import { domMarker } from './marker.js';

export class IncidentsLayer {
  constructor(map, config) {
    this.map = map;
    this.priorityColors = config.priorityColors;
    this.unknownColor = config.unknownPriorityColor;
    this.markers = new Map();   // incident id -> {marker, glyph, label}
  }

  // The whole list: markers are added, updated in place, and removed for incidents not listed.
  set(list) {
    const keep = new Set();
    (Array.isArray(list) ? list : []).forEach((inc) => {
      if (typeof inc.id !== 'string' || typeof inc.lat !== 'number' || typeof inc.lng !== 'number') { return; }
      keep.add(inc.id);
      const m = this.markers.get(inc.id) || this.add(inc);
      m.marker.setLatLng([inc.lat, inc.lng]);
      m.glyph.style.background = this.priorityColors[inc.priority] || this.unknownColor;
      m.label.textContent = String(inc.label || inc.id);
      m.glyph.classList.toggle('ct-incident-active', !!inc.active);
    });
    this.markers.forEach((m, id) => { if (!keep.has(id)) { this.remove(id); } });
  }

  add(inc) {
    const m = domMarker([inc.lat, inc.lng], {
      kind: 'incident', glyph: 'dot', label: true, iconClass: 'ct-incident-icon', size: 18, anchor: [9, 9],
      zIndexOffset: 8000
    });
    m.marker.addTo(this.map);
    this.markers.set(inc.id, m);
    return m;
  }

  remove(id) {
    const m = this.markers.get(id);
    if (m) { this.map.removeLayer(m.marker); this.markers.delete(id); }
  }

  ids() { return Array.from(this.markers.keys()); }

  labels() { return Array.from(this.markers.values()).map((m) => m.label.textContent); }
}
