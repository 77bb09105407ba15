// ---- colours.js: name colours that keep WCAG AA contrast -------------------
//
// Each name gets a stable hue (FNV-1a of its lower-case form: names are
// case-insensitive). Its lightness is not fixed: for each hue the darkest (in
// the light scheme) or lightest (dark scheme) step is searched until the colour
// is at least NAME_CONTRAST against every surface a name is drawn on, read from
// the page's own computed style, so a palette change in the CSS is followed
// here. The result is one generated rule per hue (.h0 … .h359), redone when the
// colour scheme changes.

// WCAG AA asks 4.5:1 for text; the extra margin absorbs rounding to 8-bit RGB.
const NAME_CONTRAST = 4.6;
// The surfaces (CSS custom properties) a name can be shown on.
const NAME_SURFACES = ['--bg', '--side', '--hover', '--selected', '--mention-bg'];
const DARK_SCHEME = matchMedia('(prefers-color-scheme: dark)');

/** A stable hue for a name: FNV-1a over its lower-case code points. */
function hue(name) {
  let h = 0x811c9dc5;
  for (const c of name.toLowerCase()) {
    h ^= c.codePointAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % 360;
}

/** [r, g, b, a] from a computed colour such as "rgb(1, 2, 3)" or "rgba(1, 2, 3, 0.5)". */
function parseRgb(css) {
  const parts = (css.match(/[\d.]+/g) || []).map(Number);
  return [parts[0] || 0, parts[1] || 0, parts[2] || 0, parts.length > 3 ? parts[3] : 1];
}

/** WCAG 2 relative luminance of an sRGB colour. */
function luminance([r, g, b]) {
  const lin = (c) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

function contrast(a, b) {
  const [x, y] = [luminance(a), luminance(b)];
  return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
}

/** HSL (degrees, percent, percent) to [r, g, b] in 0–255, rounded as CSS does. */
function hslToRgb(h, s, l) {
  const sat = s / 100, light = l / 100;
  const k = (n) => (n + h / 30) % 12;
  const a = sat * Math.min(light, 1 - light);
  const f = (n) => light - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
  return [f(0), f(8), f(4)].map((v) => Math.round(v * 255));
}

/** The computed colours of the name surfaces, through a probe element. */
function surfaceColours() {
  const probe = document.createElement('span');
  document.body.append(probe);
  const colours = NAME_SURFACES.map((variable) => {
    probe.style.backgroundColor = `var(${variable})`;
    return parseRgb(getComputedStyle(probe).backgroundColor);
  });
  probe.remove();
  return colours;
}

/** The colour for `h` with enough contrast on every surface. */
function nameColour(h, surfaces, dark) {
  const saturation = dark ? 70 : 75;
  // Start where hues look their best and walk away from the background.
  for (let l = dark ? 60 : 45; l >= 5 && l <= 95; l += dark ? 1 : -1) {
    const rgb = hslToRgb(h, saturation, l);
    if (surfaces.every((surface) => contrast(rgb, surface) >= NAME_CONTRAST)) return rgb;
  }
  return dark ? [255, 255, 255] : [0, 0, 0];
}

/** (Re)writes the .h0 … .h359 rules for the scheme in use. */
function writeNameColours() {
  const surfaces = surfaceColours();
  const dark = DARK_SCHEME.matches;
  const rules = [];
  for (let h = 0; h < 360; h += 1) {
    rules.push(`.h${h}{color:rgb(${nameColour(h, surfaces, dark).join(',')})}`);
  }
  let sheet = document.getElementById('name-colours');
  if (!sheet) {
    sheet = document.createElement('style');
    sheet.id = 'name-colours';
    document.head.append(sheet);
  }
  sheet.textContent = rules.join('\n');
  sheet.dataset.scheme = dark ? 'dark' : 'light';
}
