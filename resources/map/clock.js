/* The page's two clocks: page time for animation, wall-clock seconds for fix ages. */

export function nowMs() { return performance.now(); }
export function wallS() { return Date.now() / 1000; }
