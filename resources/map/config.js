/*
 * The page's config block: JSON written by Python (mapgen/page.py), read once at start.
 *
 * Status names, labels and colours, priority colours, compass points, the fade/stale thresholds,
 * the age wording and the statuses never aggregated into a cluster come from
 * cartrack_desktop/domain/presentation.py: the page keeps no copy.
 */

const REQUIRED = ['statuses', 'staleColor', 'priorityColors', 'unknownPriorityColor', 'compass', 'fadeAfterS',
  'staleAfterS', 'age', 'neverAggregated', 'basemapHint'];

// The parsed config, checked and shaped for the modules: throws if Python sent something else.
export function readConfig(doc) {
  const el = doc.getElementById('cartrack-config');
  const raw = el ? JSON.parse(el.textContent || '{}') : {};
  const missing = REQUIRED.filter((key) => !(key in raw));
  if (missing.length) { throw new Error('page config lacks ' + missing.join(', ')); }
  const statusIndex = new Map();
  raw.statuses.forEach((s, i) => { statusIndex.set(s.name, i); });
  return Object.freeze({
    tiles: raw.tiles && typeof raw.tiles.url === 'string' ? Object.freeze(raw.tiles) : null,
    basemapHint: String(raw.basemapHint),
    statusNames: raw.statuses.map((s) => s.name),
    statusLabels: raw.statuses.map((s) => s.label),
    statusColors: raw.statuses.map((s) => s.color),
    statusIndex: statusIndex,
    staleColor: raw.staleColor,
    priorityColors: raw.priorityColors,
    unknownPriorityColor: raw.unknownPriorityColor,
    compass: raw.compass,
    fadeS: raw.fadeAfterS,
    staleS: raw.staleAfterS,
    age: raw.age,
    neverAggregated: raw.neverAggregated
  });
}

// "just now", "12 s ago", "3 min ago": the age steps of domain/presentation.py, in a sentence.
export function ageText(age, s) {
  if (s < age.nowBelowS) { return 'just now'; }
  const steps = age.steps;
  let step = steps[steps.length - 1];   // the last step has no upper bound
  for (let k = 0; k < steps.length; k++) {
    if (steps[k].belowS === null || s < steps[k].belowS) { step = steps[k]; break; }
  }
  const v = s / step.perS;
  return (step.decimals ? v.toFixed(step.decimals) : Math.round(v)) + ' ' + step.unit + ' ago';
}
