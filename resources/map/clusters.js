/*
 * What a click on a cluster does: zoom in far enough to split it, or, when its units are so close
 * together that no zoom would (parked at one station), list them (overlays/cluster_list.js).
 */

import { NO_CLUSTERS_FROM_ZOOM } from './density.js';

const APART_PX = 30;      // units this far apart at the zoom clusters stop are told apart there
const FIT_PADDING_PX = 60;

export class ClusterActions {
  constructor(map, fleet, density, list) {
    this.map = map;
    this.fleet = fleet;
    this.density = density;
    this.list = list;
  }

  // Indices of the units inside cluster j (as drawn in the last frame).
  members(j) {
    const fleet = this.fleet, k = this.density.cellOf[j], out = [];
    for (let i = 0; i < fleet.n; i++) {
      if (fleet.agg[i] && fleet.cell[i] === k) { out.push(i); }
    }
    return out;
  }

  // Whether zooming in would split cluster j (its units' spread, scaled to where clusters stop).
  splits(j) {
    const fleet = this.fleet, m = this.members(j);
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    m.forEach((i) => {
      x0 = Math.min(x0, fleet.sx[i]); x1 = Math.max(x1, fleet.sx[i]);
      y0 = Math.min(y0, fleet.sy[i]); y1 = Math.max(y1, fleet.sy[i]);
    });
    const spread = Math.max(x1 - x0, y1 - y0) * Math.pow(2, NO_CLUSTERS_FROM_ZOOM - this.map.getZoom());
    return spread >= APART_PX;
  }

  action(j) { return this.splits(j) ? 'zoom in' : 'list its units'; }

  // A click on the cluster named `key` (density.key): zoom to its units, or list them.
  click(key) {
    const j = this.density.indexOf(key);
    if (j < 0) { return null; }
    const fleet = this.fleet, m = this.members(j);
    if (this.splits(j)) {
      const bounds = L.latLngBounds(m.map((i) => [fleet.fixLat[i], fleet.fixLng[i]]));
      this.list.hide();
      this.map.fitBounds(bounds, { padding: [FIT_PADDING_PX, FIT_PADDING_PX], maxZoom: NO_CLUSTERS_FROM_ZOOM,
        animate: false });
      return 'zoom';
    }
    const units = m.map((i) => ({ id: fleet.ids[i], sign: fleet.signs[i], status: fleet.status[i] }));
    units.sort((a, b) => a.status - b.status || a.sign.localeCompare(b.sign));
    this.list.show(units, this.density.cx[j], this.density.cy[j]);
    return 'list';
  }
}
