/* Web Mercator, as Leaflet's: lat/lng to world pixels at a given scale (256 * 2^zoom). */

const MAX_LAT = 85.0511287798;

export function projX(lng, scale) { return (lng + 180) / 360 * scale; }

export function projY(lat, scale) {
  const l = lat > MAX_LAT ? MAX_LAT : (lat < -MAX_LAT ? -MAX_LAT : lat);
  const s = Math.sin(l * Math.PI / 180);
  return (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * scale;
}
