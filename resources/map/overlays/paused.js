/* The "Live data paused" notice over the map while Python has no live data. */

export class PausedNotice {
  constructor(map, view) {
    this.view = view;
    this.el = document.createElement('div');
    this.el.className = 'ct-paused';
    this.el.style.display = 'none';
    map.getContainer().appendChild(this.el);
  }

  // l: {live, reason}; while not live every unit is drawn stale.
  set(l) {
    const live = !!(l && l.live);
    this.view.live = live;
    this.el.textContent = live ? '' : String(l.reason || 'Live data paused');
    this.el.style.display = live ? 'none' : 'block';
  }

  text() { return this.el.textContent; }
}
