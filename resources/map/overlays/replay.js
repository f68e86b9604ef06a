/* A unit's replayed track: the line of its stored fixes and a marker moved along it. */

import { domMarker } from './marker.js';

export class ReplayLayer {
  constructor(map) {
    this.map = map;
    this.line = null;
    this.m = null;
    this.state = null;   // {points, at} for diagnostics, null without a replay
  }

  // r: {points: [[lat, lng], ...], label, fit} or null to end the replay.
  set(r) {
    this.remove();
    if (!r || !Array.isArray(r.points) || !r.points.length) { return; }
    this.line = L.polyline(r.points, { color: '#6a1b9a', weight: 3, opacity: 0.8, interactive: false })
      .addTo(this.map);
    this.m = domMarker(r.points[0], {
      kind: 'replay', glyph: 'arrow', label: String(r.label || 'replay'), iconClass: 'ct-tracked-icon', size: 28,
      anchor: [14, 14], zIndexOffset: 9500
    });
    this.m.marker.addTo(this.map);
    this.state = { points: r.points.length, at: r.points[0] };
    if (r.fit) { this.map.fitBounds(this.line.getBounds(), { padding: [40, 40], maxZoom: 16 }); }
  }

  // c: {lat, lng, heading}, the replay's current point.
  move(c) {
    if (!this.m || !c) { return; }
    this.m.marker.setLatLng([c.lat, c.lng]);
    this.m.glyph.style.transform = 'rotate(' + c.heading + 'deg)';
    this.state.at = [c.lat, c.lng];
  }

  remove() {
    if (this.line) { this.map.removeLayer(this.line); this.line = null; }
    if (this.m) { this.map.removeLayer(this.m.marker); this.m = null; }
    this.state = null;
  }
}
