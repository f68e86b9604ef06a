/*
 * Hover: which unit (or cluster) is under the mouse (hit test against where they were last drawn)
 * and the tooltip with the unit's call sign, speed, heading, status and age of fix, or the
 * cluster's count by status, as text. The tooltip stays inside the map (placement.js).
 */

import { wallS } from './clock.js';
import { ageText } from './config.js';
import { countText } from './density.js';
import { placeBeside } from './placement.js';

const HIT_PX = 10;          // hover/double-click radius around a unit
const TRACKED_HIT_PX = 14;  // the tracked unit's marker is bigger and on top: it wins within this
const OFFSET_X_PX = 14;
const OFFSET_Y_PX = -10;

// Index of the unit drawn nearest to container point (x, y) within reach, or -1.
export function hitTest(fleet, view, x, y) {
  const trackedIdx = view.tracked !== null ? fleet.index.get(view.tracked) : undefined;
  if (trackedIdx !== undefined && fleet.vis[trackedIdx]) {
    const tdx = fleet.sx[trackedIdx] - x, tdy = fleet.sy[trackedIdx] - y;
    if (tdx * tdx + tdy * tdy <= TRACKED_HIT_PX * TRACKED_HIT_PX) { return trackedIdx; }
  }
  let best = -1, bestD = HIT_PX * HIT_PX;
  for (let i = 0; i < fleet.n; i++) {
    if (!fleet.vis[i] || fleet.agg[i]) { continue; }   // a unit inside a cluster is hit as the cluster
    const dx = fleet.sx[i] - x, dy = fleet.sy[i] - y, d = dx * dx + dy * dy;
    if (d <= bestD) { bestD = d; best = i; }
  }
  return best;
}

// What a cluster's tooltip says: "37 units here" and "30 Available · 5 Out of service · 2 stale".
export function clusterText(density, j, config, action) {
  const counts = density.counts(j);
  const parts = [];
  counts.forEach((m, c) => {
    if (m) { parts.push(countText(m) + ' ' + (c < config.statusLabels.length ? config.statusLabels[c] : 'stale')); }
  });
  return { title: countText(density.size(j)) + ' units here', line: parts.join(' \u00b7 ') + ' \u00b7 click to ' + action };
}

export class Tooltip {
  constructor(map, fleet, view, config) {
    this.map = map;
    this.fleet = fleet;
    this.view = view;
    this.config = config;
    this.root = document.createElement('div');
    this.root.className = 'ct-tooltip';
    this.root.setAttribute('role', 'tooltip');
    this.title = document.createElement('div');
    this.title.className = 'ct-tooltip-title';
    this.line = document.createElement('div');
    this.line.className = 'ct-tooltip-line';
    this.root.appendChild(this.title);
    this.root.appendChild(this.line);
    this.root.style.display = 'none';
    map.getContainer().appendChild(this.root);
  }

  text(i) {
    const fleet = this.fleet, config = this.config;
    const age = Math.max(0, wallS() - fleet.ts[i]);
    const hdg = Math.round(fleet.hdg[i]) % 360;
    let line = Math.round(fleet.spd[i]) + ' mph \u00b7 ' + hdg + '\u00b0 ' + config.compass[Math.round(hdg / 22.5) % 16] +
      ' \u00b7 ' + config.statusLabels[fleet.status[i]] + ' \u00b7 fix ' + ageText(config.age, age);
    if (age >= config.staleS) { line += ' (stale)'; }
    const sign = fleet.signs[i];
    return { title: sign + (sign !== fleet.ids[i] ? ' (' + fleet.ids[i] + ')' : ''), line: line };
  }

  // Shown next to the hovered unit (or cluster) where it was last drawn; hidden without one.
  // `cluster` (the fleet layer's density, and what a click on a cluster would do) for clusters.
  update(cluster) {
    const hover = this.view.hover;
    const i = hover === null ? undefined : this.fleet.index.get(hover);
    let text, x, y;
    if (i !== undefined && this.fleet.vis[i] && !this.fleet.agg[i]) {
      text = this.text(i);
      x = this.fleet.sx[i];
      y = this.fleet.sy[i];
    } else {
      const j = cluster && this.view.hoverCluster !== null ? cluster.density.indexOf(this.view.hoverCluster) : -1;
      if (j < 0) { this.root.style.display = 'none'; this.box = null; return; }
      text = clusterText(cluster.density, j, this.config, cluster.action(j));
      x = cluster.density.cx[j];
      y = cluster.density.cy[j];
    }
    this.title.textContent = text.title;
    this.line.textContent = text.line;
    this.root.style.display = 'block';
    this.box = placeBeside(this.root, x, y, OFFSET_X_PX, OFFSET_Y_PX, this.map.getSize());
  }

  // What the tooltip shows and where (diagnostics), null while hidden.
  shown() {
    if (this.root.style.display === 'none') { return null; }
    return { title: this.title.textContent, line: this.line.textContent, box: this.box };
  }
}
