// Okabe & Ito's palette, distinguishable with the common colour-vision deficiencies.
// Order: strongest contrasts first; yellow last (weak on white, so segments get white borders
// and every series is named in the legend, tooltip and table: colour is never the only label).
export const SERIES = [
  "#0072B2", // blue
  "#E69F00", // orange
  "#009E73", // bluish green
  "#D55E00", // vermillion
  "#56B4E9", // sky blue
  "#CC79A7", // reddish purple
  "#F0E442", // yellow
];
export const OTHER = "#8C8C8C";
export const MAX_SERIES = SERIES.length;

/** Colours for the services of a range, most expensive first; past MAX_SERIES they share "other". */
export function serviceColours(servicesByCost: string[]): Map<string, string> {
  const colours = new Map<string, string>();
  servicesByCost.forEach((s, n) => colours.set(s, n < MAX_SERIES ? SERIES[n] : OTHER));
  return colours;
}
