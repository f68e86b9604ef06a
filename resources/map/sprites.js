/*
 * Arrow sprites: an atlas of pre-drawn arrows (colour group x 10-degree heading), stamped into
 * one pixel buffer the size of the canvas, which is then put on the canvas at once. Software
 * rasterising of a path per unit took ~300 ms per frame at 10,000 units, drawImage per unit ~35 ms.
 */

const ARROW_PX = 22;
export const HEADING_STEP = 10;
const HEADINGS = 36;
// Nearly transparent antialiasing pixels are dropped and nearly opaque ones made opaque: invisible
// at this size, and the arrows' white outlines stay whole where arrows overlap (translucent pixels
// only go where nothing is yet).
const ALPHA_DROP = 24;
const ALPHA_SOLID = 232;

// Draws every arrow of the atlas: one row per colour group, one column per heading.
function paintAtlas(palette, side, dpr) {
  const c = document.createElement('canvas');
  c.width = side * HEADINGS;
  c.height = side * palette.groups;
  const g = c.getContext('2d', { willReadFrequently: true });
  for (let row = 0; row < palette.groups; row++) {
    g.fillStyle = palette.color(row);
    g.globalAlpha = palette.alpha(row);
    g.strokeStyle = '#ffffff';
    g.lineWidth = 1;
    for (let h = 0; h < HEADINGS; h++) {
      const a = h * HEADING_STEP * Math.PI / 180;
      const ca = Math.cos(a);
      const sa = Math.sin(a);
      g.setTransform(dpr, 0, 0, dpr, (h + 0.5) * side, (row + 0.5) * side);
      // arrow pointing to the heading: tip 9 px ahead, base 5 px behind, half-width 5
      g.beginPath();
      g.moveTo(9 * sa, -9 * ca);
      g.lineTo(-5 * sa + 5 * ca, 5 * ca + 5 * sa);
      g.lineTo(-2 * sa, 2 * ca);
      g.lineTo(-5 * sa - 5 * ca, 5 * ca - 5 * sa);
      g.closePath();
      g.fill();
      g.stroke();
    }
  }
  return { canvas: c, words: new Uint32Array(g.getImageData(0, 0, c.width, c.height).data.buffer) };
}

// One sprite as its visible pixels: x/y offsets and RGBA words (for arrows partly off the canvas),
// and offsets into a canvas-wide pixel buffer W wide, split into opaque and translucent pixels.
function cutSprite(words, atlasWidth, side, row, h, W) {
  const half = side >> 1;
  const dx = [], dy = [], col = [], op = [], opc = [], tr = [], trc = [];
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      let w = words[(row * side + y) * atlasWidth + h * side + x];
      const al = w >>> 24;
      if (al < ALPHA_DROP) { continue; }
      if (al >= ALPHA_SOLID) { w = (w | 0xff000000) >>> 0; }
      dx.push(x - half); dy.push(y - half); col.push(w);
      const off = (y - half) * W + (x - half);
      if (al >= ALPHA_SOLID) { op.push(off); opc.push(w | 0); } else { tr.push(off); trc.push(w | 0); }
    }
  }
  return {
    dx: Int16Array.from(dx), dy: Int16Array.from(dy), col: Int32Array.from(col),
    op: Int32Array.from(op), opc: Int32Array.from(opc), tr: Int32Array.from(tr), trc: Int32Array.from(trc)
  };
}

export class ArrowStamper {
  constructor(palette) {
    this.palette = palette;
    this.atlas = null;   // {sprites[group][heading], half, W, dpr}
    this.stamp = null;   // {img: ImageData, px: Int32Array} the size of the canvas
  }

  _atlasFor(W, dpr) {
    const at = this.atlas;
    if (at && at.dpr === dpr && at.W === W) { return at; }
    const side = Math.round(ARROW_PX * dpr);
    const painted = paintAtlas(this.palette, side, dpr);
    const sprites = [];
    for (let r = 0; r < this.palette.groups; r++) {
      const rowSprites = [];
      for (let h = 0; h < HEADINGS; h++) { rowSprites.push(cutSprite(painted.words, painted.canvas.width, side, r, h, W)); }
      sprites.push(rowSprites);
    }
    this.atlas = { sprites: sprites, half: side >> 1, W: W, dpr: dpr, canvas: painted.canvas, side: side };
    return this.atlas;
  }

  // A new frame: an empty pixel buffer the size of the canvas (cleared only if the last frame wrote).
  begin(ctx, dpr) {
    const W = ctx.canvas.width, H = ctx.canvas.height;
    this.dpr = dpr;
    this.atlasNow = this._atlasFor(W, dpr);
    if (!this.stamp || this.stamp.img.width !== W || this.stamp.img.height !== H) {
      const img = ctx.createImageData(W, H);
      this.stamp = { img: img, px: new Int32Array(img.data.buffer), W: W, H: H, dirty: false };
    } else if (this.stamp.dirty) {
      this.stamp.px.fill(0);
    }
    this.stamp.dirty = false;
  }

  // Puts the buffer on the canvas at once, if anything was stamped into it.
  put(ctx) {
    if (this.stamp.dirty) { ctx.putImageData(this.stamp.img, 0, 0); }
  }

  // Stamps the units listed in groups[g] (indices into fleet, at fleet.sx/sy in CSS pixels).
  stampArrows(fleet, groups) {
    const dpr = this.dpr, atlas = this.atlasNow, px = this.stamp.px, W = this.stamp.W, H = this.stamp.H;
    const m = atlas.half + 1;
    let q, at, d, w;
    for (let g = 0; g < groups.length; g++) {
      const list = groups[g];
      if (list.length) { this.stamp.dirty = true; }
      const row = atlas.sprites[g];
      for (let k = 0; k < list.length; k++) {
        const j = list[k];
        const sp = row[Math.round(fleet.hdg[j] / HEADING_STEP) % HEADINGS];
        const cx = Math.round(fleet.sx[j] * dpr);
        const cy = Math.round(fleet.sy[j] * dpr);
        if (cx >= m && cy >= m && cx < W - m && cy < H - m) {
          const base = cy * W + cx;
          const tr = sp.tr, trc = sp.trc, op = sp.op, opc = sp.opc;
          // Translucent pixels (antialiased rims, faded and stale arrows) go only where the
          // buffer is still empty, as if drawn beneath everything: blending each one cost more
          // than all the rest of the stamping on a crowded map. Written without a branch per
          // pixel (a data-dependent branch mispredicts where arrows overlap).
          for (q = 0; q < tr.length; q++) {
            at = base + tr[q];
            d = px[at];
            px[at] = d | (trc[q] & ~((d | -d) >> 31));
          }
          for (q = 0; q < op.length; q++) { px[base + op[q]] = opc[q]; }
        } else {   // partly off the canvas
          const dx = sp.dx, dy = sp.dy, col = sp.col;
          for (q = 0; q < col.length; q++) {
            const x = cx + dx[q];
            const y = cy + dy[q];
            if (x < 0 || y < 0 || x >= W || y >= H) { continue; }
            at = y * W + x;
            w = col[q];
            if ((w >>> 24) === 255 || px[at] === 0) { px[at] = w; }   // as above
          }
        }
      }
    }
  }

  // Stamps the units in `list` over everything stamped so far, blended (the few units that must
  // stay visible above the cluster discs, faded ones included). groupOf(j): unit j's colour group.
  blendArrows(fleet, list, groupOf) {
    const dpr = this.dpr, atlas = this.atlasNow, px = this.stamp.px, W = this.stamp.W, H = this.stamp.H;
    for (let k = 0; k < list.length; k++) {
      const j = list[k];
      const sp = atlas.sprites[groupOf(j)][Math.round(fleet.hdg[j] / HEADING_STEP) % HEADINGS];
      const cx = Math.round(fleet.sx[j] * dpr), cy = Math.round(fleet.sy[j] * dpr);
      const dx = sp.dx, dy = sp.dy, col = sp.col;
      for (let q = 0; q < col.length; q++) {
        const x = cx + dx[q], y = cy + dy[q];
        if (x < 0 || y < 0 || x >= W || y >= H) { continue; }
        const at = y * W + x;
        px[at] = over(col[q], px[at]);
      }
      this.stamp.dirty = true;
    }
  }

  // Stamps a bitmap ({words, pw, ph}: device pixels, as ImageData words) with its top-left at CSS
  // pixel (x, y): mostly opaque pixels replace what is there, faint ones go only where it is empty.
  stampBitmap(bm, x, y) {
    const px = this.stamp.px, W = this.stamp.W, H = this.stamp.H, words = bm.words, pw = bm.pw;
    const X = Math.round(x * this.dpr), Y = Math.round(y * this.dpr);
    const r0 = Math.max(0, -Y), r1 = Math.min(bm.ph, H - Y), c0 = Math.max(0, -X), c1 = Math.min(pw, W - X);
    for (let r = r0; r < r1; r++) {
      const src = r * pw, dst = (Y + r) * W + X;
      for (let c = c0; c < c1; c++) {
        const w = words[src + c], a = w >>> 24;
        if (a >= 128 || (a > 0 && px[dst + c] === 0)) { px[dst + c] = w; }
      }
    }
    this.stamp.dirty = true;
  }
}

// Source-over of two non-premultiplied RGBA words (ImageData's little-endian 0xAABBGGRR).
function over(s, d) {
  const sa = s >>> 24;
  if (sa === 255 || d === 0) { return s; }
  if (sa === 0) { return d; }
  const a = sa / 255, da = (d >>> 24) / 255 * (1 - a), oa = a + da;
  const ch = (shift) => Math.round((((s >>> shift) & 255) * a + ((d >>> shift) & 255) * da) / oa);
  return ((Math.round(oa * 255) << 24) | (ch(16) << 16) | (ch(8) << 8) | ch(0)) | 0;
}
