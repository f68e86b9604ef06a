/*
 * Small pre-drawn bitmaps (cluster discs, call-sign labels) kept by what they show. Canvas paths
 * and text are only recorded when drawn; the browser rasterises them when it paints the frame, and
 * in software ~100 discs with rings and counts cost ~10-20 ms there (make bench: the page's
 * afterDrawMs, which was ~2.5 ms with the arrows' one pixel buffer alone). Drawn once into a
 * bitmap, they are stamped into that same buffer (sprites.js), or copied with drawImage where
 * there is no buffer (zoomed out, units are squares drawn as paths).
 */

export class SpriteCache {
  // max: bitmaps kept (the least recently used go first)
  constructor(max) {
    this.max = max;
    this.map = new Map();
    this.dpr = 1;
  }

  // The bitmap for `key`, painted by paint(ctx) on a w x h (CSS px) canvas the first time.
  get(key, w, h, dpr, paint) {
    if (dpr !== this.dpr) { this.map.clear(); this.dpr = dpr; }
    let s = this.map.get(key);
    if (s !== undefined) {
      this.map.delete(key);   // most recently used last
      this.map.set(key, s);
      return s;
    }
    const c = document.createElement('canvas');
    c.width = Math.ceil(w * dpr);
    c.height = Math.ceil(h * dpr);
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    paint(g);
    s = { canvas: c, w: c.width / dpr, h: c.height / dpr, pw: c.width, ph: c.height, words: null };
    this.map.set(key, s);
    if (this.map.size > this.max) { this.map.delete(this.map.keys().next().value); }
    return s;
  }

  // Its pixels as ImageData words, for stamping into the fleet layer's buffer (read once).
  static words(s) {
    if (s.words === null) {
      const img = s.canvas.getContext('2d').getImageData(0, 0, s.pw, s.ph);
      s.words = new Int32Array(img.data.buffer);
    }
    return s;
  }
}
