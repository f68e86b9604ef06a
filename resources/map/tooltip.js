/*
 * Hover: which unit is under the mouse (hit test against where units were last drawn) and the
 * tooltip with its call sign, speed, heading, status and age of fix, as text.
 */

import { wallS } from './clock.js';
import { ageText } from './config.js';

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
    if (!fleet.vis[i]) { continue; }
    const dx = fleet.sx[i] - x, dy = fleet.sy[i] - y, d = dx * dx + dy * dy;
    if (d <= bestD) { bestD = d; best = i; }
  }
  return best;
}

export class Tooltip {
  constructor(map, fleet, view, config) {
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

  // Shown next to the hovered unit where it was last drawn; hidden without one.
  update() {
    const hover = this.view.hover;
    const i = hover === null ? undefined : this.fleet.index.get(hover);
    if (i === undefined || !this.fleet.vis[i]) { this.root.style.display = 'none'; return; }
    const text = this.text(i);
    this.title.textContent = text.title;
    this.line.textContent = text.line;
    this.root.style.display = 'block';
    this.root.style.left = (this.fleet.sx[i] + OFFSET_X_PX) + 'px';
    this.root.style.top = (this.fleet.sy[i] + OFFSET_Y_PX) + 'px';
  }

  // What the tooltip shows (diagnostics), null while hidden.
  shown() {
    return this.root.style.display === 'none' ? null : { title: this.title.textContent, line: this.line.textContent };
  }
}
