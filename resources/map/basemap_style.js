/*
 * The dispatch style of the imported street map: quiet, nearly colourless, so the unit arrows (status
 * colours), incident pins and the tracked unit stay the strongest things on screen. Streets are white
 * on a light warm grey with a soft casing; water and parks are only tinted; no warm road colours (they
 * would read as the amber, orange and red of unit statuses). Road names from zoom 13, house numbers
 * from 17. Zooms here are the map's (256 px tiles); the archive's data zoom is one less (levelDiff 1).
 *
 * The layers and their `kind`s are the Protomaps basemap schema the import writes (README, "Vector
 * tiles: layers and attributes"). Fewer rules draw faster: the style leaves out what a dispatcher does
 * not need to find an address (land use detail, shops, minor paths below zoom 15).
 */

export const LAND = '#f2f1ee';

const C = {
  water: '#c9d7e0', waterLabel: '#6f8797', park: '#e3e8dc', industrial: '#ebe9e5', hospital: '#efe7e7',
  building: '#e2ded8', rail: '#cfccc6', path: '#d9d5ce', casing: '#cdc8c0', highwayCasing: '#b7b0a5',
  minor: '#ffffff', major: '#ffffff', highway: '#f8f6f0', roadLabel: '#454545', halo: '#ffffff',
  placeLabel: '#807b74', houseNumber: '#8d877f', poi: '#4f5f70'
};
const FONT = 'system-ui, "DejaVu Sans", sans-serif';
const PARKS = new Set(['park', 'forest', 'wood', 'grass', 'cemetery', 'meadow', 'garden', 'nature_reserve',
  'golf_course', 'village_green', 'recreation_ground', 'playground']);
const SAFETY_POIS = new Set(['police', 'fire_station', 'hospital', 'ambulance_station']);

const HOUSE_NUMBER_SPACING_PX = 80;   // one "52" per this many pixels: buildings often map a number per entrance

function kind(f) { return f.props.kind; }

// A label symbolizer whose labels are dropped when the same text is already drawn within `px`
// (the labeler's own de-duplication, which protomaps-leaflet uses for road names).
class Deduplicated {
  constructor(inner, px) { this.inner = inner; this.px = px; }

  place(layout, geom, feature) {
    const labels = this.inner.place(layout, geom, feature);
    (labels || []).forEach((l) => {
      l.deduplicationKey = String(feature.props.addr_housenumber);
      l.deduplicationDistance = this.px;
    });
    return labels;
  }
}

// A width (px) growing exponentially with zoom between stops, as Mapbox-style "exponential" stops.
function widths(stops) {
  const curve = protomapsL.exp(1.6, stops);
  return (z) => curve(z);
}

const ROAD_WIDTHS = {
  highway: widths([[9, 0.8], [12, 2.2], [15, 6], [17, 14], [19, 30]]),
  major_road: widths([[10, 0.6], [12, 1.4], [15, 5], [17, 12], [19, 26]]),
  minor_road: widths([[12, 0.4], [14, 1.4], [15, 2.6], [17, 8], [19, 18]])
};
const CASING_PX = { highway: 1.6, major_road: 1.2, minor_road: 1.0 };

function road(k) { return (z, f) => kind(f) === k && !f.props.is_tunnel; }
// Round caps and joins cost more to rasterise; below zoom 15 roads are too thin for them to show.
const CAP = (z) => (z >= 15 ? 'round' : 'butt');
const JOIN = (z) => (z >= 15 ? 'round' : 'miter');

function roadRules() {
  const P = protomapsL;
  const out = [
    { dataLayer: 'roads', minzoom: 15, filter: road('path'),
      symbolizer: new P.LineSymbolizer({ color: C.path, width: widths([[15, 0.6], [18, 2.5]]), dash: [2, 2],
        dashColor: C.path, dashWidth: widths([[15, 0.6], [18, 2.5]]) }) }
  ];
  const classes = ['minor_road', 'major_road', 'highway'];
  classes.forEach((k) => {   // casings first, under every fill
    out.push({ dataLayer: 'roads', minzoom: k === 'minor_road' ? 14 : 12, filter: road(k),
      symbolizer: new P.LineSymbolizer({ color: k === 'highway' ? C.highwayCasing : C.casing,
        width: (z, f) => ROAD_WIDTHS[k](z, f) + CASING_PX[k] * 2, lineCap: CAP, lineJoin: JOIN }) });
  });
  classes.forEach((k) => {
    out.push({ dataLayer: 'roads', filter: road(k),
      symbolizer: new P.LineSymbolizer({ color: k === 'highway' ? C.highway : C[k === 'minor_road' ? 'minor' : 'major'],
        width: ROAD_WIDTHS[k], lineCap: CAP, lineJoin: JOIN }) });
  });
  return out;
}

export function paintRules() {
  const P = protomapsL;
  return [
    { dataLayer: 'landuse', filter: (z, f) => PARKS.has(kind(f)),
      symbolizer: new P.PolygonSymbolizer({ fill: C.park }) },
    { dataLayer: 'landuse', minzoom: 13, filter: (z, f) => kind(f) === 'industrial',
      symbolizer: new P.PolygonSymbolizer({ fill: C.industrial }) },
    { dataLayer: 'landuse', minzoom: 13, filter: (z, f) => kind(f) === 'hospital',
      symbolizer: new P.PolygonSymbolizer({ fill: C.hospital }) },
    { dataLayer: 'water', filter: (z, f) => f.geomType === P.GeomType.Polygon,
      symbolizer: new P.PolygonSymbolizer({ fill: C.water }) },
    { dataLayer: 'water', filter: (z, f) => f.geomType === P.GeomType.Line && (kind(f) === 'river' || kind(f) === 'canal'),
      symbolizer: new P.LineSymbolizer({ color: C.water, width: widths([[10, 1], [14, 4], [18, 16]]) }) },
    { dataLayer: 'water', minzoom: 14, filter: (z, f) => f.geomType === P.GeomType.Line && kind(f) !== 'river' && kind(f) !== 'canal',
      symbolizer: new P.LineSymbolizer({ color: C.water, width: 1 }) },
    { dataLayer: 'buildings', minzoom: 14, filter: (z, f) => kind(f) === 'building',
      symbolizer: new P.PolygonSymbolizer({ fill: C.building }) },
    { dataLayer: 'transit', minzoom: 12, filter: (z, f) => kind(f) === 'rail',
      symbolizer: new P.LineSymbolizer({ color: C.rail, width: widths([[12, 0.5], [17, 1.2]]), dash: [2, 4],
        dashColor: C.rail, dashWidth: widths([[12, 0.5], [17, 1.2]]), opacity: 0.8 }) },
    ...roadRules()
  ];
}

function textFont(px, weight) { return weight + ' ' + px + 'px ' + FONT; }

export function labelRules() {
  const P = protomapsL;
  const roadLabel = (px) => new P.LineLabelSymbolizer({ labelProps: ['name'], fill: C.roadLabel, stroke: C.halo,
    width: 3, font: (z) => textFont(z >= 16 ? px + 1 : px, 500), position: P.LineLabelPlacement.Center,
    repeatDistance: 400 });
  return [
    { dataLayer: 'pois', minzoom: 14, filter: (z, f) => SAFETY_POIS.has(kind(f)) && typeof f.props.name === 'string',
      symbolizer: new P.GroupSymbolizer([
        new P.CircleSymbolizer({ radius: 3, fill: C.poi, stroke: C.halo, width: 1.5 }),
        new P.OffsetTextSymbolizer({ labelProps: ['name'], fill: C.poi, stroke: C.halo, width: 3, offsetX: 6,
          offsetY: 4, font: textFont(11, 600) })
      ]) },
    // names along whole streets: the import joins each street's ways in `road_labels` (an OSM way is often
    // too short to carry its name)
    { dataLayer: 'road_labels', minzoom: 13, filter: (z, f) => kind(f) === 'highway' || kind(f) === 'major_road',
      symbolizer: roadLabel(12) },
    { dataLayer: 'road_labels', minzoom: 15, filter: (z, f) => kind(f) === 'minor_road', symbolizer: roadLabel(11) },
    { dataLayer: 'buildings', minzoom: 17, filter: (z, f) => kind(f) === 'address',
      symbolizer: new Deduplicated(new P.CenteredTextSymbolizer({ labelProps: ['addr_housenumber'],
        fill: C.houseNumber, stroke: C.halo, width: 2, font: textFont(10, 400) }), HOUSE_NUMBER_SPACING_PX) },
    { dataLayer: 'water', minzoom: 13, filter: (z, f) => f.geomType === P.GeomType.Polygon,
      symbolizer: new P.CenteredTextSymbolizer({ labelProps: ['name'], fill: C.waterLabel, font: textFont(11, 400) }) },
    { dataLayer: 'places', maxzoom: 15, filter: (z, f) => kind(f) === 'neighbourhood' || kind(f) === 'locality',
      symbolizer: new P.CenteredTextSymbolizer({ labelProps: ['name'], fill: C.placeLabel, stroke: C.halo, width: 2,
        font: (z, f) => textFont(f && kind(f) === 'locality' ? 13 : 11, 600), textTransform: 'uppercase',
        letterSpacing: 1 }) }
  ];
}
