/* The incident pin: a marker where the dispatcher clicked, with the search radius around it. */

import { domMarker } from './marker.js';

export class PinLayer {
  constructor(map) {
    this.map = map;
    this.pin = null;      // what Python sent: {lat, lng, label?, radius_km?} or null
    this.marker = null;
    this.radius = null;
  }

  set(p) {
    this.remove();
    if (!p) { return; }
    this.pin = p;
    this.marker = domMarker([p.lat, p.lng], {
      kind: 'pin', glyph: 'dot', label: p.label ? String(p.label) : false, iconClass: 'ct-pin-icon', size: 24,
      anchor: [12, 24], zIndexOffset: 9000
    }).marker.addTo(this.map);
    if (p.radius_km > 0) {
      this.radius = L.circle([p.lat, p.lng], {
        radius: p.radius_km * 1000, color: '#c62828', weight: 1.5, dashArray: '6 6', fill: true,
        fillOpacity: 0.025, interactive: false
      }).addTo(this.map);
    }
  }

  remove() {
    if (this.marker) { this.map.removeLayer(this.marker); this.marker = null; }
    if (this.radius) { this.map.removeLayer(this.radius); this.radius = null; }
    this.pin = null;
  }

  // The pin's text as the page shows it (diagnostics).
  label() {
    return this.marker ? (this.marker.getElement() ? this.marker.getElement().textContent : null) : null;
  }
}
