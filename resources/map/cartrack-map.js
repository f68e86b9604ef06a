/*
 * CarTrack map glue.
 *
 * Draws the live fleet on one canvas layer (DOM markers only for the tracked unit and the
 * incident pin), glides units between fixes, and talks to Python through a single
 * QWebChannel object, "bridge". Everything that arrives from Python is a JSON string read
 * with JSON.parse; text reaches the DOM only through textContent. There is no eval, no
 * innerHTML and no HTML built from data in this file.
 */
(function () {
  'use strict';

  var CONFIG = {};                // read from the page's JSON block once the document is loaded
  var FADE_S = 15;
  var STALE_S = 60;
  var CORRECT_MS = 300;           // a new fix blends in from where the unit was drawn over this long
  var MAX_EXTRAPOLATE_MS = 2500;  // dead reckoning between fixes stops this long after the last one
  var M_PER_DEG = 111320;
  var MPH_TO_MPMS = 0.44704 / 1000;
  var TRAIL_S = 60;
  var TRAIL_N = 64;               // ring slots per unit (>= TRAIL_S fixes at 1 Hz)
  var HIT_PX = 10;                // hover/double-click radius around a unit
  var CLICK_DELAY_MS = 260;       // a click is a click once no double-click followed

  var STATUS = ['available', 'dispatched', 'en_route', 'on_scene', 'out_of_service'];
  var STATUS_LABEL = ['Available', 'Dispatched', 'En route', 'On scene', 'Out of service'];
  var COLORS = ['#2e7d32', '#f9a825', '#ef6c00', '#c62828', '#607d8b'];
  var STALE_COLOR = '#9e9e9e';
  var STATUS_INDEX = {};
  STATUS.forEach(function (s, i) { STATUS_INDEX[s] = i; });

  var bridge = null;
  var map = null;
  var fleet = null;
  var ui = {};

  function nowMs() { return performance.now(); }
  function wallS() { return Date.now() / 1000; }

  // ------------------------------------------------------------------ unit store
  // Struct of arrays so 10,000 units cost a few typed arrays, not 10,000 objects.
  function Units(capacity) {
    this.n = 0;
    this.index = new Map();
    this.ids = [];
    this.signs = [];
    this._alloc(capacity);
  }
  Units.prototype._alloc = function (cap) {
    var old = this.cap ? this : null;
    var F64 = Float64Array, F32 = Float32Array;
    var fields = {
      fixLat: F64, fixLng: F64, offLat: F64, offLng: F64, vLat: F64, vLng: F64, t0: F64, ts: F64,
      hdg: F32, spd: F32, sx: F32, sy: F32, status: Uint8Array, vis: Uint8Array,
      trHead: Uint16Array, trLen: Uint16Array
    };
    var trail = { trLat: F64, trLng: F64, trTs: F64 };
    var self = this;
    Object.keys(fields).forEach(function (k) {
      var a = new fields[k](cap);
      if (old) { a.set(old[k].subarray(0, old.n)); }
      self[k] = a;
    });
    Object.keys(trail).forEach(function (k) {
      var a = new trail[k](cap * TRAIL_N);
      if (old) { a.set(old[k].subarray(0, old.n * TRAIL_N)); }
      self[k] = a;
    });
    this.cap = cap;
  };
  Units.prototype.slot = function (id) {
    var i = this.index.get(id);
    if (i !== undefined) { return i; }
    if (this.n === this.cap) { this._alloc(this.cap * 2); }
    i = this.n++;
    this.index.set(id, i);
    this.ids[i] = id;
    if (this.signs[i] === undefined || this.signs[i] === null) { this.signs[i] = id; }
    this.trHead[i] = 0;
    this.trLen[i] = 0;
    this.t0[i] = -1;
    return i;
  };
  Units.prototype.remove = function (id) {
    var i = this.index.get(id);
    if (i === undefined) { return; }
    var last = this.n - 1;
    if (i !== last) {
      var self = this;
      ['fixLat', 'fixLng', 'offLat', 'offLng', 'vLat', 'vLng', 't0', 'ts', 'hdg', 'spd', 'sx', 'sy', 'status',
        'vis',
        'trHead', 'trLen'].forEach(function (k) { self[k][i] = self[k][last]; });
      ['trLat', 'trLng', 'trTs'].forEach(function (k) {
        self[k].copyWithin(i * TRAIL_N, last * TRAIL_N, (last + 1) * TRAIL_N);
      });
      this.ids[i] = this.ids[last];
      this.signs[i] = this.signs[last];
      this.index.set(this.ids[i], i);
    }
    this.ids.length = last;
    this.signs.length = last;
    this.index.delete(id);
    this.n = last;
  };
  // Where unit i is drawn at page time t: its last fix, moved on by its speed and heading (dead
  // reckoning, so units glide without lagging a fix behind), plus what is left of the blend from
  // where it was drawn when the fix arrived. Written to out[0], out[1] (no allocation per call).
  Units.prototype.place = function (i, t, out) {
    var dt = t - this.t0[i];
    var ex = dt < MAX_EXTRAPOLATE_MS ? dt : MAX_EXTRAPOLATE_MS;
    var k = dt < CORRECT_MS ? 1 - dt / CORRECT_MS : 0;
    out[0] = this.fixLat[i] + this.vLat[i] * ex + this.offLat[i] * k;
    out[1] = this.fixLng[i] + this.vLng[i] * ex + this.offLng[i] * k;
    return dt < MAX_EXTRAPOLATE_MS && (this.spd[i] > 0 || k > 0);
  };
  Units.prototype.displayed = function (i, t) {
    var out = [0, 0];
    this.place(i, t, out);
    return out;
  };
  var scratch = [0, 0];
  Units.prototype.update = function (id, lat, lng, hdg, spd, ts, t) {
    var i = this.slot(id);
    if (this.t0[i] < 0) {
      this.offLat[i] = 0; this.offLng[i] = 0;
    } else {
      this.place(i, t, scratch);
      this.offLat[i] = scratch[0] - lat; this.offLng[i] = scratch[1] - lng;
    }
    var v = spd * MPH_TO_MPMS, a = hdg * Math.PI / 180;
    this.vLat[i] = v * Math.cos(a) / M_PER_DEG;
    this.vLng[i] = v * Math.sin(a) / (M_PER_DEG * Math.cos(lat * Math.PI / 180));
    this.fixLat[i] = lat; this.fixLng[i] = lng; this.t0[i] = t;
    this.hdg[i] = hdg; this.spd[i] = spd; this.ts[i] = ts;
    var base = i * TRAIL_N, h = this.trHead[i];
    this.trLat[base + h] = lat; this.trLng[base + h] = lng; this.trTs[base + h] = ts;
    this.trHead[i] = (h + 1) % TRAIL_N;
    if (this.trLen[i] < TRAIL_N) { this.trLen[i] += 1; }
  };
  Units.prototype.trail = function (i, sinceTs) {
    var out = [], base = i * TRAIL_N, len = this.trLen[i], head = this.trHead[i];
    for (var k = len; k >= 1; k--) {
      var j = base + ((head - k + TRAIL_N) % TRAIL_N);
      if (this.trTs[j] >= sinceTs) { out.push([this.trLat[j], this.trLng[j]]); }
    }
    return out;
  };

  // ------------------------------------------------------------------ projection
  var MAX_LAT = 85.0511287798;
  function projX(lng, scale) { return (lng + 180) / 360 * scale; }
  function projY(lat, scale) {
    var l = lat > MAX_LAT ? MAX_LAT : (lat < -MAX_LAT ? -MAX_LAT : lat);
    var s = Math.sin(l * Math.PI / 180);
    return (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * scale;
  }

  // ------------------------------------------------------------------ state
  var state = {
    tracked: null, following: false, highlight: null, hover: null, pin: null, live: true,
    lastSeq: 0, batches: 0, unknownCodes: 0, drawn: 0, visible: 0, lastDrawMs: 0, zooming: false,
    pendingReports: [], errors: []
  };

  // ------------------------------------------------------------------ canvas layer
  var canvas, ctx, dpr = 1, rafPending = false;

  function setupCanvas() {
    canvas = document.createElement('canvas');
    canvas.className = 'ct-fleet-canvas';
    map.getContainer().appendChild(canvas);
    ctx = canvas.getContext('2d');
    resizeCanvas();
  }
  function resizeCanvas() {
    var size = map.getSize();
    dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(size.x * dpr);
    canvas.height = Math.round(size.y * dpr);
    canvas.style.width = size.x + 'px';
    canvas.style.height = size.y + 'px';
  }
  function schedule() {
    if (!rafPending) { rafPending = true; window.requestAnimationFrame(frame); }
  }

  function colorOf(i, age) {
    if (age >= STALE_S || !state.live) { return -1; }   // stale, or no live data at all
    return fleet.status[i];
  }

  var lastFrameAt = 0;
  var BIG_FLEET = 1500;       // above this, animate at ~30 fps: half the drawing, same smoothness to the eye
  var HUGE_FLEET = 5000;      // above this, ~20 fps: without a GPU every frame is rasterised in software
  var MAX_FRAME_GAP_MS = 250;

  // The shortest time between two animation frames (dead reckoning between batches), for the
  // fleet's size and for what the last drawing cost: at most a third of the time goes to
  // drawing, however slow the machine. Batches are drawn when they arrive.
  function frameGapMs() {
    var base = fleet.n > HUGE_FLEET ? 50 : (fleet.n > BIG_FLEET ? 30 : 0);
    return Math.min(MAX_FRAME_GAP_MS, Math.max(base, 3 * state.lastDrawMs));
  }

  function frame() {
    rafPending = false;
    var t = nowMs();
    if (t - lastFrameAt < frameGapMs() && !state.zooming) { schedule(); return; }
    lastFrameAt = t;
    if (draw(t)) { schedule(); }
  }

  // ------------------------------------------------------------------ arrow sprites
  var ARROW_PX = 22, HEADING_STEP = 10, HEADINGS = 36;
  var arrowSprites = null, atlasDpr = 0;

  // Rows: colour group (status colour x faded, then stale), columns: heading in 10-degree steps.
  // Each sprite is kept as its visible pixels, split into opaque and translucent ones, as
  // offsets into a canvas-wide pixel buffer (for the canvas's width) plus RGBA words, and as
  // x/y offsets for arrows partly off the canvas. Nearly transparent antialiasing pixels are
  // dropped and nearly opaque ones made opaque: invisible at this size, and the arrows' white
  // outlines stay whole where arrows overlap (translucent pixels only go where nothing is yet).
  var ALPHA_DROP = 24, ALPHA_SOLID = 232;
  function arrowAtlas(W) {
    if (arrowSprites && atlasDpr === dpr && arrowSprites.W === W) { return arrowSprites; }
    var side = Math.round(ARROW_PX * dpr);
    var c = document.createElement('canvas');
    c.width = side * HEADINGS;
    c.height = side * 12;
    var g = c.getContext('2d', { willReadFrequently: true });
    for (var row = 0; row < 12; row++) {
      var ci = row >> 1;
      g.fillStyle = ci === 5 ? STALE_COLOR : COLORS[ci];
      g.globalAlpha = ci === 5 ? 0.75 : ((row & 1) ? 0.4 : 1);
      g.strokeStyle = '#ffffff';
      g.lineWidth = 1;
      for (var h = 0; h < HEADINGS; h++) {
        var a = h * HEADING_STEP * Math.PI / 180, ca = Math.cos(a), sa = Math.sin(a);
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
    var words = new Uint32Array(g.getImageData(0, 0, c.width, c.height).data.buffer);
    var sprites = [];
    var half = side >> 1;
    for (var r = 0; r < 12; r++) {
      var rowSprites = [];
      for (var hh = 0; hh < HEADINGS; hh++) {
        var dx = [], dy = [], col = [], op = [], opc = [], tr = [], trc = [];
        for (var y = 0; y < side; y++) {
          for (var x = 0; x < side; x++) {
            var w = words[(r * side + y) * c.width + hh * side + x];
            var al = w >>> 24;
            if (al < ALPHA_DROP) { continue; }
            if (al >= ALPHA_SOLID) { w = (w | 0xff000000) >>> 0; }
            dx.push(x - half); dy.push(y - half); col.push(w);
            var off = (y - half) * W + (x - half);
            if (al >= ALPHA_SOLID) { op.push(off); opc.push(w | 0); } else { tr.push(off); trc.push(w | 0); }
          }
        }
        rowSprites.push({
          dx: Int16Array.from(dx), dy: Int16Array.from(dy), col: Int32Array.from(col),
          op: Int32Array.from(op), opc: Int32Array.from(opc), tr: Int32Array.from(tr), trc: Int32Array.from(trc)
        });
      }
      sprites.push(rowSprites);
    }
    arrowSprites = { sprites: sprites, half: half, W: W };
    atlasDpr = dpr;
    return arrowSprites;
  }

  var stamp = null;   // {img: ImageData, px: Int32Array} the size of the canvas

  function stampArrows(groups) {
    var W = canvas.width, H = canvas.height;
    var atlas = arrowAtlas(W);
    if (!stamp || stamp.img.width !== W || stamp.img.height !== H) {
      var img = ctx.createImageData(W, H);
      stamp = { img: img, px: new Int32Array(img.data.buffer) };
    }
    var px = stamp.px, m = atlas.half + 1, q, at, d, w;
    px.fill(0);
    for (var g = 0; g < 12; g++) {
      var list = groups[g];
      var row = atlas.sprites[g];
      for (var k = 0; k < list.length; k++) {
        var j = list[k];
        var sp = row[Math.round(fleet.hdg[j] / HEADING_STEP) % HEADINGS];
        var cx = Math.round(fleet.sx[j] * dpr), cy = Math.round(fleet.sy[j] * dpr);
        if (cx >= m && cy >= m && cx < W - m && cy < H - m) {
          var base = cy * W + cx;
          var tr = sp.tr, trc = sp.trc, op = sp.op, opc = sp.opc;
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
          var dx = sp.dx, dy = sp.dy, col = sp.col;
          for (q = 0; q < col.length; q++) {
            var x = cx + dx[q], y = cy + dy[q];
            if (x < 0 || y < 0 || x >= W || y >= H) { continue; }
            at = y * W + x;
            w = col[q];
            if ((w >>> 24) === 255 || px[at] === 0) { px[at] = w; }   // as above
          }
        }
      }
    }
    ctx.putImageData(stamp.img, 0, 0);
  }

  // Draws every visible unit; returns true while some unit is still gliding.
  function draw(t) {
    var t0 = nowMs();
    var size = map.getSize();
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, size.x, size.y);
    if (state.zooming) { return false; }
    var zoom = map.getZoom();
    var scale = 256 * Math.pow(2, zoom);
    var origin = map.getPixelBounds().min;
    var ox = origin.x, oy = origin.y;
    var now = wallS();
    var n = fleet.n, animating = false, visible = 0;
    var margin = 12;
    // groups: 0..4 status colours, 5 = stale; each faded or not
    var groups = [];
    for (var g = 0; g < 12; g++) { groups.push([]); }
    var trackedIdx = state.tracked !== null ? fleet.index.get(state.tracked) : undefined;
    var pos = scratch;
    for (var i = 0; i < n; i++) {
      if (fleet.place(i, t, pos)) { animating = true; }
      var x = projX(pos[1], scale) - ox, y = projY(pos[0], scale) - oy;
      fleet.sx[i] = x; fleet.sy[i] = y;
      if (x < -margin || y < -margin || x > size.x + margin || y > size.y + margin) {
        fleet.vis[i] = 0;
        continue;
      }
      fleet.vis[i] = 1;
      visible++;
      if (i === trackedIdx) { continue; }   // drawn as a DOM marker on top
      var age = now - fleet.ts[i];
      var c = colorOf(i, age);
      var gi = (c < 0 ? 5 : c) * 2 + (age >= FADE_S && c >= 0 ? 1 : 0);
      groups[gi].push(i);
    }
    var arrows = zoom >= 12;
    if (arrows) {
      // each arrow is stamped into one pixel buffer from a pre-drawn atlas (colour x fade x
      // 10-degree heading), then the buffer is put on the canvas at once: software rasterising
      // of a path per unit took ~300 ms per frame at 10,000 units, drawImage per unit ~35 ms
      stampArrows(groups);
    } else {
      for (var gi2 = 0; gi2 < 12; gi2++) {
        var list = groups[gi2];
        if (!list.length) { continue; }
        var ci = gi2 >> 1;
        ctx.fillStyle = ci === 5 ? STALE_COLOR : COLORS[ci];
        ctx.globalAlpha = ci === 5 ? 0.75 : ((gi2 & 1) ? 0.4 : 1);
        ctx.beginPath();
        for (var k = 0; k < list.length; k++) {
          var j = list[k];
          ctx.rect(fleet.sx[j] - 2.5, fleet.sy[j] - 2.5, 5, 5);
        }
        ctx.fill();
      }
    }
    ctx.globalAlpha = 1;
    drawRing(state.highlight, '#1565c0', 14, 3);
    drawRing(state.hover, '#212121', 12, 2);
    updateTracked(t, trackedIdx);
    state.visible = visible;
    state.drawn += 1;
    state.lastDrawMs = nowMs() - t0;
    return animating;
  }

  function drawRing(id, color, r, w) {
    if (id === null) { return; }
    var i = fleet.index.get(id);
    if (i === undefined || !fleet.vis[i]) { return; }
    ctx.beginPath();
    ctx.arc(fleet.sx[i], fleet.sy[i], r, 0, 2 * Math.PI);
    ctx.strokeStyle = color;
    ctx.lineWidth = w;
    ctx.stroke();
  }

  // ------------------------------------------------------------------ tracked unit (DOM)
  function svgArrow() {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '-12 -12 24 24');
    svg.setAttribute('width', '28');
    svg.setAttribute('height', '28');
    var p = document.createElementNS(ns, 'path');
    p.setAttribute('d', 'M0,-11 L8,8 L0,3 L-8,8 Z');
    svg.appendChild(p);
    return svg;
  }

  function makeTrackedMarker() {
    var root = document.createElement('div');
    root.className = 'ct-tracked';
    var arrow = svgArrow();
    arrow.classList.add('ct-tracked-arrow');
    var label = document.createElement('div');
    label.className = 'ct-tracked-label';
    root.appendChild(arrow);
    root.appendChild(label);
    var icon = L.divIcon({ html: root, className: 'ct-tracked-icon', iconSize: [28, 28], iconAnchor: [14, 14] });
    var marker = L.marker([0, 0], { icon: icon, interactive: false, keyboard: false, zIndexOffset: 10000 });
    return { marker: marker, root: root, arrow: arrow, label: label };
  }

  function updateTracked(t, idx) {
    if (state.tracked === null || idx === undefined) {
      if (ui.tracked && map.hasLayer(ui.tracked.marker)) { map.removeLayer(ui.tracked.marker); }
      return;
    }
    if (!ui.tracked) { ui.tracked = makeTrackedMarker(); }
    var tm = ui.tracked;
    var pos = fleet.displayed(idx, t);
    if (!map.hasLayer(tm.marker)) { tm.marker.addTo(map); }
    tm.marker.setLatLng(pos);
    tm.arrow.style.transform = 'rotate(' + fleet.hdg[idx] + 'deg)';
    var age = wallS() - fleet.ts[idx];
    tm.arrow.style.fill = age >= STALE_S || !state.live ? STALE_COLOR : COLORS[fleet.status[idx]];
    tm.root.classList.toggle('ct-faded', age >= FADE_S);
    if (tm.label.textContent !== fleet.signs[idx]) { tm.label.textContent = fleet.signs[idx]; }
    if (state.following && !state.zooming) {
      var c = map.getSize();
      var p = map.latLngToContainerPoint(pos);
      var dx = p.x - c.x / 2, dy = p.y - c.y / 2;
      if (Math.abs(dx) > 0.5 || Math.abs(dy) > 0.5) {
        map.panBy([dx, dy], { animate: false });
      }
    }
  }

  function refreshTrail() {
    if (state.tracked === null) {
      if (ui.trail) { ui.trail.setLatLngs([]); }
      return;
    }
    var i = fleet.index.get(state.tracked);
    if (i === undefined) { return; }
    if (!ui.trail) {
      ui.trail = L.polyline([], { color: '#1565c0', weight: 3, opacity: 0.7, dashArray: '4 6', interactive: false });
      ui.trail.addTo(map);
    }
    ui.trail.setLatLngs(fleet.trail(i, wallS() - TRAIL_S));
  }

  // ------------------------------------------------------------------ incident pin
  function setPin(p) {
    if (ui.pin) { map.removeLayer(ui.pin); ui.pin = null; }
    if (ui.radius) { map.removeLayer(ui.radius); ui.radius = null; }
    state.pin = p;
    if (!p) { return; }
    var el = document.createElement('div');
    el.className = 'ct-pin';
    var dot = document.createElement('div');
    dot.className = 'ct-pin-dot';
    el.appendChild(dot);
    if (p.label) {
      var lab = document.createElement('div');
      lab.className = 'ct-pin-label';
      lab.textContent = String(p.label);
      el.appendChild(lab);
    }
    var icon = L.divIcon({ html: el, className: 'ct-pin-icon', iconSize: [24, 24], iconAnchor: [12, 24] });
    ui.pin = L.marker([p.lat, p.lng], { icon: icon, interactive: false, keyboard: false, zIndexOffset: 9000 });
    ui.pin.addTo(map);
    if (p.radius_km > 0) {
      ui.radius = L.circle([p.lat, p.lng], {
        radius: p.radius_km * 1000, color: '#c62828', weight: 1.5, dashArray: '6 6', fill: true,
        fillOpacity: 0.05, interactive: false
      }).addTo(map);
    }
  }

  // ------------------------------------------------------------------ incidents and replay
  var PRIORITY_COLORS = { 1: '#b71c1c', 2: '#ef6c00', 3: '#f9a825', 4: '#607d8b' };

  function setIncidents(list) {
    ui.incidents = ui.incidents || new Map();
    var keep = new Set();
    (Array.isArray(list) ? list : []).forEach(function (inc) {
      if (typeof inc.id !== 'string' || typeof inc.lat !== 'number' || typeof inc.lng !== 'number') { return; }
      keep.add(inc.id);
      var m = ui.incidents.get(inc.id);
      if (!m) {
        var el = document.createElement('div');
        el.className = 'ct-incident';
        var dot = document.createElement('div');
        dot.className = 'ct-incident-dot';
        var lab = document.createElement('div');
        lab.className = 'ct-incident-label';
        el.appendChild(dot);
        el.appendChild(lab);
        var icon = L.divIcon({ html: el, className: 'ct-incident-icon', iconSize: [18, 18], iconAnchor: [9, 9] });
        m = { marker: L.marker([inc.lat, inc.lng], { icon: icon, interactive: false, keyboard: false,
                                                       zIndexOffset: 8000 }).addTo(map),
              dot: dot, label: lab };
        ui.incidents.set(inc.id, m);
      }
      m.marker.setLatLng([inc.lat, inc.lng]);
      m.dot.style.background = PRIORITY_COLORS[inc.priority] || '#607d8b';
      m.label.textContent = String(inc.label || inc.id);
      m.dot.classList.toggle('ct-incident-active', !!inc.active);
    });
    ui.incidents.forEach(function (m, id) {
      if (!keep.has(id)) { map.removeLayer(m.marker); ui.incidents.delete(id); }
    });
  }

  function setReplay(r) {
    if (ui.replayLine) { map.removeLayer(ui.replayLine); ui.replayLine = null; }
    if (ui.replayMarker) { map.removeLayer(ui.replayMarker.marker); ui.replayMarker = null; }
    state.replay = null;
    if (!r || !Array.isArray(r.points) || !r.points.length) { return; }
    ui.replayLine = L.polyline(r.points, { color: '#6a1b9a', weight: 3, opacity: 0.8, interactive: false })
      .addTo(map);
    var root = document.createElement('div');
    root.className = 'ct-replay';
    var arrow = svgArrow();
    arrow.classList.add('ct-replay-arrow');
    var lab = document.createElement('div');
    lab.className = 'ct-replay-label';
    lab.textContent = String(r.label || 'replay');
    root.appendChild(arrow);
    root.appendChild(lab);
    var icon = L.divIcon({ html: root, className: 'ct-tracked-icon', iconSize: [28, 28], iconAnchor: [14, 14] });
    ui.replayMarker = { marker: L.marker(r.points[0], { icon: icon, interactive: false, keyboard: false,
                                                         zIndexOffset: 9500 }).addTo(map), arrow: arrow };
    state.replay = { points: r.points.length, at: r.points[0] };
    if (r.fit) { map.fitBounds(ui.replayLine.getBounds(), { padding: [40, 40], maxZoom: 16 }); }
  }

  function moveReplay(c) {
    if (!ui.replayMarker || !c) { return; }
    ui.replayMarker.marker.setLatLng([c.lat, c.lng]);
    ui.replayMarker.arrow.style.transform = 'rotate(' + c.heading + 'deg)';
    state.replay.at = [c.lat, c.lng];
  }

  // ------------------------------------------------------------------ hover tooltip
  function setupTooltip() {
    var tip = document.createElement('div');
    tip.className = 'ct-tooltip';
    tip.setAttribute('role', 'tooltip');
    var title = document.createElement('div');
    title.className = 'ct-tooltip-title';
    var line = document.createElement('div');
    line.className = 'ct-tooltip-line';
    tip.appendChild(title);
    tip.appendChild(line);
    tip.style.display = 'none';
    map.getContainer().appendChild(tip);
    ui.tip = { root: tip, title: title, line: line };
  }

  var COMPASS = ['N', 'NNE', 'NE', 'ENE', 'E', 'ESE', 'SE', 'SSE', 'S', 'SSW', 'SW', 'WSW', 'W', 'WNW', 'NW', 'NNW'];

  function fmtAge(s) {
    if (s < 1) { return 'just now'; }
    if (s < 90) { return Math.round(s) + ' s ago'; }
    return Math.round(s / 60) + ' min ago';
  }

  function tooltipText(i) {
    var age = Math.max(0, wallS() - fleet.ts[i]);
    var status = STATUS_LABEL[fleet.status[i]];
    var hdg = Math.round(fleet.hdg[i]) % 360;
    var line = Math.round(fleet.spd[i]) + ' mph \u00b7 ' + hdg + '\u00b0 ' + COMPASS[Math.round(hdg / 22.5) % 16] +
      ' \u00b7 ' + status + ' \u00b7 fix ' + fmtAge(age);
    if (age >= STALE_S) { line += ' (stale)'; }
    return { title: fleet.signs[i] + (fleet.signs[i] !== fleet.ids[i] ? ' (' + fleet.ids[i] + ')' : ''), line: line };
  }

  function updateTooltip() {
    var tip = ui.tip;
    if (state.hover === null) { tip.root.style.display = 'none'; return; }
    var i = fleet.index.get(state.hover);
    if (i === undefined || !fleet.vis[i]) { tip.root.style.display = 'none'; return; }
    var text = tooltipText(i);
    tip.title.textContent = text.title;
    tip.line.textContent = text.line;
    tip.root.style.display = 'block';
    tip.root.style.left = (fleet.sx[i] + 14) + 'px';
    tip.root.style.top = (fleet.sy[i] - 10) + 'px';
  }

  function hitTest(x, y) {
    var best = -1, bestD = HIT_PX * HIT_PX;
    var trackedIdx = state.tracked !== null ? fleet.index.get(state.tracked) : undefined;
    if (trackedIdx !== undefined && fleet.vis[trackedIdx]) {
      var tdx = fleet.sx[trackedIdx] - x, tdy = fleet.sy[trackedIdx] - y;
      if (tdx * tdx + tdy * tdy <= (HIT_PX + 4) * (HIT_PX + 4)) { return trackedIdx; }
    }
    for (var i = 0; i < fleet.n; i++) {
      if (!fleet.vis[i]) { continue; }
      var dx = fleet.sx[i] - x, dy = fleet.sy[i] - y, d = dx * dx + dy * dy;
      if (d <= bestD) { bestD = d; best = i; }
    }
    return best;
  }

  // ------------------------------------------------------------------ inbound data
  // Wire code -> unit id for the current code table: ids travel once, as newCodes/newIds; a
  // batch with `reset` (every `full` one, and one whose table would outgrow its bound) starts a
  // new table (services/fleet_view.MapWire). A code not in the table is counted and skipped.
  var codeIds = [];

  function applyBatch(text) {
    var tRecv = nowMs(), received = wallS();
    var b = JSON.parse(text);
    var tParsed = nowMs();
    var t = tParsed;
    if (b.reset) { codeIds = []; }
    var newCodes = b.newCodes, newIds = b.newIds, c;
    for (c = 0; c < newCodes.length; c++) { codeIds[newCodes[c]] = newIds[c]; }
    var codes = b.codes, k;
    if (b.full) {
      var keep = new Set();
      for (k = 0; k < codes.length; k++) { keep.add(codeIds[codes[k]]); }
      fleet.ids.slice().forEach(function (id) { if (!keep.has(id)) { fleet.remove(id); } });
    }
    // integers on the wire: micro-degrees from (lat0, lng0), tenths of a degree / mph, ms after
    // t0 (seconds)
    var lat = b.lat, lng = b.lng, hdg = b.hdg, spd = b.spd, ts = b.ts, t0 = b.t0, lat0 = b.lat0, lng0 = b.lng0;
    for (k = 0; k < codes.length; k++) {
      var id = codeIds[codes[k]];
      if (id === undefined) { state.unknownCodes += 1; continue; }
      fleet.update(id, (lat0 + lat[k]) / 1e6, (lng0 + lng[k]) / 1e6, hdg[k] / 10, spd[k] / 10,
                   t0 + ts[k] / 1000, t);
    }
    for (var g = 0; g < b.gone.length; g++) { fleet.remove(b.gone[g]); }
    if (state.hover !== null && !fleet.index.has(state.hover)) { state.hover = null; }
    state.lastSeq = b.seq;
    state.batches += 1;
    refreshTrail();
    var tApplied = nowMs();
    state.pendingReports.push({
      seq: b.seq, n: codes.length, gone: b.gone.length, sent: b.sent, flushed: b.flushed,
      received: received, parseMs: tParsed - tRecv, applyMs: tApplied - tParsed
    });
    // Draw now rather than at the next animation frame: the new fixes are on the canvas at once
    // (the app sends at most 10-20 batches a second, fewer for big fleets).
    var animating = draw(tApplied);
    lastFrameAt = tApplied;
    flushReports();
    if (animating) { schedule(); }
  }

  // Reports what was drawn, once per batch, after the frame that drew it has been painted:
  // the canvas calls only record drawing; rasterising happens when the frame is produced, so
  // the report waits for the next animation frame and a task queued from it.
  var reportArmed = false;
  function flushReports() {
    if (!state.pendingReports.length || !bridge || reportArmed) { return; }
    reportArmed = true;
    window.requestAnimationFrame(function () {
      window.setTimeout(function () { reportArmed = false; sendReports(); }, 0);
    });
  }

  function sendReports() {
    if (!state.pendingReports.length || !bridge) { return; }
    var drawnAt = Date.now() / 1000;
    var reports = state.pendingReports;
    state.pendingReports = [];
    for (var r = 0; r < reports.length; r++) {
      reports[r].drawnAt = drawnAt;
      reports[r].drawMs = state.lastDrawMs;
      reports[r].units = fleet.n;
    }
    bridge.batchApplied(JSON.stringify(reports));
  }

  function applyMeta(text) {
    var meta = JSON.parse(text);
    Object.keys(meta).forEach(function (id) {
      var m = meta[id];
      var i = fleet.index.get(id);
      if (i === undefined) {   // a registered unit without a fix yet: applied when it appears
        fleet.pendingMeta = fleet.pendingMeta || new Map();
        fleet.pendingMeta.set(id, m);
        return;
      }
      fleet.signs[i] = typeof m.sign === 'string' ? m.sign : id;
      var si = STATUS_INDEX[m.status];
      fleet.status[i] = si === undefined ? 0 : si;
    });
    schedule();
  }

  function applyPendingMeta() {
    if (!fleet.pendingMeta || !fleet.pendingMeta.size) { return; }
    var done = [];
    fleet.pendingMeta.forEach(function (m, id) {
      var i = fleet.index.get(id);
      if (i === undefined) { return; }
      fleet.signs[i] = typeof m.sign === 'string' ? m.sign : id;
      var si = STATUS_INDEX[m.status];
      fleet.status[i] = si === undefined ? 0 : si;
      done.push(id);
    });
    done.forEach(function (id) { fleet.pendingMeta.delete(id); });
  }

  function unitReport(id) {
    var i = fleet.index.get(id);
    if (i === undefined) { return null; }
    var age = wallS() - fleet.ts[i];
    var d = fleet.displayed(i, nowMs());
    // where it is on screen now (the last frame may predate a pan or zoom)
    var p = map.latLngToContainerPoint(d), size = map.getSize();
    var onScreen = !state.zooming && p.x >= 0 && p.y >= 0 && p.x <= size.x && p.y <= size.y;
    return {
      id: id, sign: fleet.signs[i], lat: fleet.fixLat[i], lng: fleet.fixLng[i], shownLat: d[0], shownLng: d[1],
      heading: fleet.hdg[i], speed: fleet.spd[i], ts: fleet.ts[i], x: p.x, y: p.y,
      visible: onScreen, status: STATUS[fleet.status[i]], faded: age >= FADE_S && age < STALE_S,
      stale: age >= STALE_S || !state.live, trail: fleet.trail(i, wallS() - TRAIL_S).length
    };
  }

  function reportState(req) {
    var ask = JSON.parse(req);
    var out = {
      req: ask.req, units: fleet.n, visible: state.visible, drawn: state.drawn, lastSeq: state.lastSeq,
      batches: state.batches, unknownCodes: state.unknownCodes, tracked: state.tracked,
      following: state.following, pin: state.pin,
      hover: state.hover, highlight: state.highlight, zoom: map.getZoom(),
      center: [map.getCenter().lat, map.getCenter().lng], size: [map.getSize().x, map.getSize().y],
      tooltip: ui.tip.root.style.display === 'none' ? null
        : { title: ui.tip.title.textContent, line: ui.tip.line.textContent },
      trackedLabel: ui.tracked ? ui.tracked.label.textContent : null,
      pinLabel: ui.pin ? (ui.pin.getElement() ? ui.pin.getElement().textContent : null) : null,
      incidents: ui.incidents ? Array.from(ui.incidents.keys()) : [],
      incidentLabels: ui.incidents ? Array.from(ui.incidents.values()).map(function (m) {
        return m.label.textContent; }) : [],
      replay: state.replay, live: state.live, pausedText: ui.paused.textContent,
      errors: state.errors.slice(-10),
      unit: {}
    };
    (ask.ids || []).forEach(function (id) { out.unit[id] = unitReport(id); });
    bridge.reportState(String(ask.req), JSON.stringify(out));
  }

  // ------------------------------------------------------------------ wiring
  function wireMap() {
    var clickTimer = null;
    map.on('click', function (e) {
      if (clickTimer !== null) { clearTimeout(clickTimer); }
      var ll = e.latlng;
      clickTimer = setTimeout(function () {
        clickTimer = null;
        bridge.mapClicked(ll.lat, ll.lng);
      }, CLICK_DELAY_MS);
    });
    map.on('dblclick', function (e) {
      if (clickTimer !== null) { clearTimeout(clickTimer); clickTimer = null; }
      var i = hitTest(e.containerPoint.x, e.containerPoint.y);
      if (i >= 0) {
        bridge.unitDoubleClicked(fleet.ids[i]);
      } else {
        map.setZoomAround(e.containerPoint, map.getZoom() + 1);
      }
    });
    var mouse = null, hoverPending = false;
    map.on('mousemove', function (e) {
      mouse = e.containerPoint;
      if (hoverPending) { return; }
      hoverPending = true;
      window.requestAnimationFrame(function () {
        hoverPending = false;
        if (!mouse) { return; }
        var i = hitTest(mouse.x, mouse.y);
        var id = i >= 0 ? fleet.ids[i] : null;
        map.getContainer().classList.toggle('ct-over-unit', id !== null);
        if (id !== state.hover) {
          state.hover = id;
          schedule();
        }
        updateTooltip();
      });
    });
    map.on('mouseout', function () {
      mouse = null;
      state.hover = null;
      updateTooltip();
      schedule();
    });
    map.on('dragstart', function () {
      if (state.following) {
        state.following = false;
        bridge.followChanged(false);
      }
    });
    map.on('zoomstart', function () { state.zooming = true; schedule(); });
    map.on('zoomend', function () { state.zooming = false; schedule(); });
    map.on('move resize', function () { schedule(); });
    map.on('resize', resizeCanvas);
    document.addEventListener('keydown', function (e) {
      if (e.key === 'Escape') { bridge.keyPressed('Escape'); }
      else if (e.key === 'Enter') { bridge.keyPressed('Enter'); }
    });
    // Fix ages advance without data: fade/stale transitions and the tooltip need a clock.
    setInterval(function () { schedule(); updateTooltip(); refreshTrail(); }, 1000);
  }

  function wireBridge() {
    bridge.fleetBatch.connect(function (text) {
      try { applyBatch(text); applyPendingMeta(); } catch (err) { pageError('batch', err); }
    });
    bridge.unitMeta.connect(function (text) {
      try { applyMeta(text); } catch (err) { pageError('meta', err); }
    });
    bridge.pinChanged.connect(function (text) {
      try { setPin(JSON.parse(text)); } catch (err) { pageError('pin', err); }
    });
    bridge.trackChanged.connect(function (text) {
      try {
        var t = JSON.parse(text);
        state.tracked = t && typeof t.id === 'string' ? t.id : null;
        state.following = !!(t && t.follow);
        if (state.tracked !== null) {
          var i = fleet.index.get(state.tracked);
          if (i !== undefined && state.following) {
            map.setView(fleet.displayed(i, nowMs()), Math.max(map.getZoom(), 15), { animate: false });
          }
        }
        refreshTrail();
        schedule();
      } catch (err) { pageError('track', err); }
    });
    bridge.highlightChanged.connect(function (id) {
      state.highlight = id ? String(id) : null;
      schedule();
    });
    bridge.centerRequested.connect(function (text) {
      try {
        var c = JSON.parse(text);
        map.setView([c.lat, c.lng], c.zoom || map.getZoom(), { animate: false });
      } catch (err) { pageError('center', err); }
    });
    bridge.incidentsChanged.connect(function (text) {
      try { setIncidents(JSON.parse(text)); } catch (err) { pageError('incidents', err); }
    });
    bridge.replayChanged.connect(function (text) {
      try { setReplay(JSON.parse(text)); } catch (err) { pageError('replay', err); }
    });
    bridge.replayMoved.connect(function (text) {
      try { moveReplay(JSON.parse(text)); } catch (err) { pageError('replay', err); }
    });
    bridge.liveChanged.connect(function (text) {
      try {
        var l = JSON.parse(text);
        state.live = !!(l && l.live);
        ui.paused.textContent = state.live ? '' : String(l.reason || 'Live data paused');
        ui.paused.style.display = state.live ? 'none' : 'block';
        schedule();
      } catch (err) { pageError('live', err); }
    });
    bridge.stateRequested.connect(function (req) {
      try { reportState(req); } catch (err) { pageError('state', err); }
    });
  }

  function pageError(where, err) {
    var msg = where + ': ' + (err && err.message ? err.message : String(err));
    state.errors.push(msg);
    if (state.errors.length > 50) { state.errors.shift(); }
    if (bridge) { bridge.pageError(msg); }
  }

  function findMap() {
    var div = document.querySelector('.folium-map');
    return div ? window[div.id] : null;
  }

  function readConfig() {
    var el = document.getElementById('cartrack-config');
    CONFIG = el ? JSON.parse(el.textContent || '{}') : {};
    FADE_S = CONFIG.fadeAfterS || FADE_S;
    STALE_S = CONFIG.staleAfterS || STALE_S;
    CORRECT_MS = CONFIG.correctMs || CORRECT_MS;
  }

  function start() {
    readConfig();
    map = findMap();
    if (!map) { throw new Error('map not found'); }
    map.attributionControl.setPrefix('');
    fleet = new Units(1024);
    setupCanvas();
    setupTooltip();
    ui.paused = document.createElement('div');
    ui.paused.className = 'ct-paused';
    ui.paused.style.display = 'none';
    map.getContainer().appendChild(ui.paused);
    if (!CONFIG.tiles) { map.getContainer().classList.add('ct-no-tiles'); }
    new QWebChannel(qt.webChannelTransport, function (channel) {
      bridge = channel.objects.bridge;
      wireBridge();
      wireMap();
      schedule();
      bridge.pageReady(JSON.stringify({ leaflet: L.version, units: fleet.n }));
    });
  }

  window.addEventListener('error', function (e) { pageError('window', e.error || e.message); });
  if (document.readyState === 'complete') { start(); } else { window.addEventListener('load', start); }
}());
