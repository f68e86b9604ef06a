/*
 * Colour groups of the fleet layer: each status colour, plain or faded, then stale (grey).
 * A unit's group picks its square (zoomed out) or its row of arrow sprites (zoomed in).
 */

const FADED_ALPHA = 0.4;
const STALE_ALPHA = 0.75;

export class Palette {
  constructor(config) {
    this.colors = config.statusColors;
    this.staleColor = config.staleColor;
    this.fadeS = config.fadeS;
    this.staleS = config.staleS;
    this.stale = this.colors.length;        // colour index of stale units
    this.groups = (this.colors.length + 1) * 2;
  }

  // Group of a unit with status index `status` whose fix is `age` seconds old.
  group(status, age, live) {
    if (age >= this.staleS || !live) { return this.stale * 2; }   // stale, or no live data at all
    return status * 2 + (age >= this.fadeS ? 1 : 0);
  }

  color(group) {
    const ci = group >> 1;
    return ci === this.stale ? this.staleColor : this.colors[ci];
  }

  alpha(group) {
    return (group >> 1) === this.stale ? STALE_ALPHA : ((group & 1) ? FADED_ALPHA : 1);
  }

  // Fill of the tracked unit's arrow (its fading is drawn by CSS).
  unitColor(status, age, live) {
    return age >= this.staleS || !live ? this.staleColor : this.colors[status];
  }
}
