/*
 * A cluster's units as a list beside it (traccar-web#1275: units parked together cannot be told
 * apart by zooming): call sign, status colour and label per row; choosing one tracks it. Text
 * reaches the DOM only through textContent; the list keeps its clicks and wheel to itself.
 */

import { placeBeside } from '../placement.js';

const MAX_ROWS = 50;
const OFFSET_PX = 18;

export class ClusterList {
  // onChoose(id): a unit was chosen in the list.
  constructor(map, config, onChoose) {
    this.map = map;
    this.config = config;
    this.onChoose = onChoose;
    this.root = document.createElement('div');
    this.root.className = 'ct-cluster-list';
    this.root.setAttribute('role', 'listbox');
    this.root.style.display = 'none';
    L.DomEvent.disableClickPropagation(this.root);
    L.DomEvent.disableScrollPropagation(this.root);
    map.getContainer().appendChild(this.root);
    this.shownState = null;
    this.box = null;
  }

  // units: [{id, sign, status (index)}] in the order to show; (x, y): the cluster's disc.
  show(units, x, y) {
    this.hide();
    const root = this.root;
    const head = document.createElement('div');
    head.className = 'ct-cluster-list-title';
    head.textContent = units.length + ' units here';
    root.appendChild(head);
    const rows = [];
    units.slice(0, MAX_ROWS).forEach((u) => {
      const row = document.createElement('button');
      row.type = 'button';
      row.className = 'ct-cluster-list-row';
      const swatch = document.createElement('span');
      swatch.className = 'ct-cluster-list-swatch';
      swatch.style.background = this.config.statusColors[u.status];
      const sign = document.createElement('span');
      sign.className = 'ct-cluster-list-sign';
      sign.textContent = u.sign;
      const status = document.createElement('span');
      status.className = 'ct-cluster-list-status';
      status.textContent = this.config.statusLabels[u.status];
      row.appendChild(swatch);
      row.appendChild(sign);
      row.appendChild(status);
      row.addEventListener('click', () => { this.hide(); this.onChoose(u.id); });
      root.appendChild(row);
      rows.push({ id: u.id, sign: u.sign });
    });
    if (units.length > MAX_ROWS) {
      const more = document.createElement('div');
      more.className = 'ct-cluster-list-more';
      more.textContent = '\u2026 and ' + (units.length - MAX_ROWS) + ' more: zoom in';
      root.appendChild(more);
    }
    root.style.display = 'block';
    this.box = placeBeside(root, x, y, OFFSET_PX, -OFFSET_PX, this.map.getSize());
    this.shownState = { title: head.textContent, units: units.length, rows: rows };
  }

  hide() {
    this.root.style.display = 'none';
    while (this.root.firstChild) { this.root.removeChild(this.root.firstChild); }
    this.shownState = null;
    this.box = null;
  }

  // What the list shows and where (diagnostics), null while hidden.
  state() {
    return this.shownState ? { ...this.shownState, box: this.box } : null;
  }
}
