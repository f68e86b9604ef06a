/* Dispatched units' routes to their scenes: one line each in the unit's status colour over a white casing,
 * beneath the units and pins. Free-flow routes computed by Python from the imported road network. */

export class RouteLayer {
  constructor(map, config) {
    this.map = map;
    this.config = config;
    this.lines = new Map();   // car id -> {casing, line, status, points}
  }

  color(status) {
    const i = this.config.statusIndex.get(String(status));
    return i === undefined ? this.config.staleColor : this.config.statusColors[i];
  }

  // routes: [{id, points: [[lat, lng], ...], status}], the whole set (an empty list clears them).
  set(routes) {
    this.remove();
    if (!Array.isArray(routes)) { return; }
    routes.forEach((r) => {
      if (!r || !Array.isArray(r.points) || r.points.length < 2) { return; }
      const color = this.color(r.status);
      const casing = L.polyline(r.points, { color: '#ffffff', weight: 8, opacity: 0.85, interactive: false })
        .addTo(this.map);
      const line = L.polyline(r.points, { color: color, weight: 5, opacity: 0.9, interactive: false })
        .addTo(this.map);
      this.lines.set(String(r.id), { casing: casing, line: line, status: String(r.status), points: r.points.length,
        color: color, end: r.points[r.points.length - 1] });
    });
  }

  remove() {
    this.lines.forEach((l) => { this.map.removeLayer(l.casing); this.map.removeLayer(l.line); });
    this.lines.clear();
  }

  // What is drawn, for diagnostics: {id: {points, status, color, end}}.
  state() {
    const out = {};
    this.lines.forEach((l, id) => { out[id] = { points: l.points, status: l.status, color: l.color, end: l.end }; });
    return out;
  }
}
