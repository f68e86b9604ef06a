/*
 * Boxes shown beside a point (the hover tooltip, a cluster's list) stay inside the map: beside
 * the point to the right and a little above by default, flipped to the left near the right edge
 * (where the dock is) and above near the bottom, and never past the top or left edge.
 */

const EDGE_PX = 4;   // kept between a box and the map's edge

// Puts element `el` (absolutely positioned in the map container) beside container point (x, y),
// offset by (dx, dy) (dx > 0); returns the box it now occupies.
export function placeBeside(el, x, y, dx, dy, size) {
  const w = el.offsetWidth, h = el.offsetHeight;
  let left = x + dx;
  if (left + w > size.x - EDGE_PX) { left = x - dx - w; }            // flip to the left
  left = Math.max(EDGE_PX, Math.min(left, size.x - EDGE_PX - w));
  let top = y + dy;
  if (top + h > size.y - EDGE_PX) { top = y - Math.abs(dy) - h; }   // flip up
  top = Math.max(EDGE_PX, Math.min(top, size.y - EDGE_PX - h));
  el.style.left = Math.round(left) + 'px';
  el.style.top = Math.round(top) + 'px';
  return { left: Math.round(left), top: Math.round(top), width: w, height: h };
}
