/*
 * Units in alarm (a device's panic button): a pulsing red ring with "SOS" and the call sign on
 * each, above everything else, following the unit as it is drawn (its last fix, or the alarm's
 * position when the unit has none on the map), until a dispatcher acknowledges the alarm.
 */

import { domMarker } from './marker.js';

export class AlarmsLayer {
  constructor(map, fleet) {
    this.map = map;
    this.fleet = fleet;
    this.alarms = new Map();   // unit id -> {m: marker parts, lat, lng}
  }

  // The whole list [{id, lat, lng, label}]: markers are added, updated, and removed for units not listed.
  set(list) {
    const keep = new Set();
    (Array.isArray(list) ? list : []).forEach((a) => {
      if (typeof a.id !== 'string') { return; }
      const hasFix = typeof a.lat === 'number' && typeof a.lng === 'number';
      keep.add(a.id);
      let entry = this.alarms.get(a.id);
      if (!entry) {
        const m = domMarker([0, 0], {
          kind: 'alarm', glyph: 'dot', label: true, iconClass: 'ct-alarm-icon', size: 44, anchor: [22, 22],
          zIndexOffset: 20000
        });
        entry = { m: m, lat: null, lng: null };
        this.alarms.set(a.id, entry);
      }
      entry.lat = hasFix ? a.lat : null;
      entry.lng = hasFix ? a.lng : null;
      entry.m.label.textContent = 'SOS ' + String(a.label || a.id);
    });
    this.alarms.forEach((entry, id) => { if (!keep.has(id)) { this.remove(id); } });
    this.update(null);
  }

  // After each drawing (t: page time of the frame): each marker where its unit is drawn.
  update(t) {
    this.alarms.forEach((entry, id) => {
      const i = this.fleet.index.get(id);
      let pos = null;
      if (i !== undefined) {
        pos = t === null ? [this.fleet.fixLat[i], this.fleet.fixLng[i]] : this.fleet.displayed(i, t);
      } else if (entry.lat !== null) {
        pos = [entry.lat, entry.lng];
      }
      const marker = entry.m.marker;
      if (pos === null) {
        if (this.map.hasLayer(marker)) { this.map.removeLayer(marker); }
        return;
      }
      marker.setLatLng(pos);
      if (!this.map.hasLayer(marker)) { marker.addTo(this.map); }
    });
  }

  remove(id) {
    const entry = this.alarms.get(id);
    if (entry) {
      if (this.map.hasLayer(entry.m.marker)) { this.map.removeLayer(entry.m.marker); }
      this.alarms.delete(id);
    }
  }

  ids() { return Array.from(this.alarms.keys()); }

  labels() { return Array.from(this.alarms.values()).map((e) => e.m.label.textContent); }
}
