/*
 * The one builder of the page's DOM markers (tracked unit, replay, incident pin, incidents): a
 * root element `ct-<kind>` holding a glyph (an arrow or a dot) and, if asked, a text label, in a
 * non-interactive Leaflet marker. Text reaches the DOM only through textContent.
 */

const SVG_NS = 'http://www.w3.org/2000/svg';

function svgArrow() {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '-12 -12 24 24');
  svg.setAttribute('width', '28');
  svg.setAttribute('height', '28');
  const p = document.createElementNS(SVG_NS, 'path');
  p.setAttribute('d', 'M0,-11 L8,8 L0,3 L-8,8 Z');
  svg.appendChild(p);
  return svg;
}

// opts: kind (class prefix), glyph ('arrow' | 'dot'), label (true, or a text; false/'' for none),
// iconClass, size, anchor ([x, y] px), zIndexOffset. Returns {marker, root, glyph, label}.
export function domMarker(latlng, opts) {
  const root = document.createElement('div');
  root.className = 'ct-' + opts.kind;
  let glyph;
  if (opts.glyph === 'arrow') {
    glyph = svgArrow();
    glyph.classList.add('ct-' + opts.kind + '-arrow');
  } else {
    glyph = document.createElement('div');
    glyph.className = 'ct-' + opts.kind + '-dot';
  }
  root.appendChild(glyph);
  let label = null;
  if (opts.label) {
    label = document.createElement('div');
    label.className = 'ct-' + opts.kind + '-label';
    if (typeof opts.label === 'string') { label.textContent = opts.label; }
    root.appendChild(label);
  }
  const icon = L.divIcon({
    html: root, className: opts.iconClass, iconSize: [opts.size, opts.size], iconAnchor: opts.anchor
  });
  const marker = L.marker(latlng, { icon: icon, interactive: false, keyboard: false, zIndexOffset: opts.zIndexOffset });
  return { marker: marker, root: root, glyph: glyph, label: label };
}
