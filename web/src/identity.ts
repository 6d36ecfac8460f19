// Who the person at this browser is: a display name (remembered in
// localStorage) and a stable colour derived from that name.

const NAME_KEY = "coedit:name";

const ADJECTIVES = [
  "Curious", "Brave", "Calm", "Clever", "Cheerful", "Gentle", "Happy", "Jolly",
  "Kind", "Lively", "Lucky", "Merry", "Nimble", "Plucky", "Quiet", "Quick",
  "Sunny", "Swift", "Witty", "Zesty", "Bold", "Bright", "Cosy", "Eager",
];
const ANIMALS = [
  "Otter", "Badger", "Falcon", "Fox", "Heron", "Koala", "Lynx", "Marten",
  "Owl", "Panda", "Puffin", "Quokka", "Raven", "Seal", "Sparrow", "Tapir",
  "Walrus", "Wombat", "Yak", "Zebra", "Beaver", "Crane", "Gecko", "Hedgehog",
];

function pick<T>(items: readonly T[]): T {
  const i = crypto.getRandomValues(new Uint32Array(1))[0] % items.length;
  return items[i];
}

export function randomPersonName(): string {
  return `${pick(ADJECTIVES)} ${pick(ANIMALS)}`;
}

/**
 * A stable colour for a name: the name's hash picks a hue; saturation and
 * lightness keep white label text readable. Returned as #rrggbb (the caret
 * extension only accepts that form).
 */
export function colourFor(name: string): string {
  let h = 0x811c9dc5; // FNV-1a
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // 260 usable hues: skip the yellow-green band 50°-150° (white text is hard to read on it).
  let hue = h % 260;
  if (hue >= 50) hue += 100;
  return hslToHex(hue, 0.7, 0.42);
}

function hslToHex(hue: number, sat: number, light: number): string {
  const a = sat * Math.min(light, 1 - light);
  const channel = (n: number): string => {
    const k = (n + hue / 30) % 12;
    const v = light - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(v * 255).toString(16).padStart(2, "0");
  };
  return `#${channel(0)}${channel(8)}${channel(4)}`;
}

export function cleanName(raw: string): string {
  return raw.replace(/\s+/g, " ").trim().slice(0, 40);
}

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

/** The remembered name, or null when the person was never asked. */
export function storedName(): string | null {
  const value = storage()?.getItem(NAME_KEY);
  return value ? cleanName(value) || null : null;
}

export function rememberName(name: string): void {
  try {
    storage()?.setItem(NAME_KEY, name);
  } catch {
    // storage full or disabled: the name just isn't remembered
  }
}

export interface User {
  name: string;
  color: string;
  /**
   * This browser, on this document (`browserTag`), so that its other tabs are shown as "You
   * (other tab)". Like a chosen name, a hint others could copy, not a proof (signed-in names
   * are the server's).
   */
  browser?: string;
}

/** How another tab of this browser is shown, in the presence list and on its caret. */
export const OTHER_TAB = "You (other tab)";

const BROWSER_KEY = "coedit:browser";
let browserFallback: string | null = null;

/**
 * What this browser's tabs on `docName` show in presence: the same in every tab of the
 * document, but different on each document, so that people who share one document with us
 * cannot tell it is the same (anonymous) browser they meet in another one. A keyed hash of the
 * document's name with a secret this browser keeps (two 32-bit lanes mixed, 53 bits kept).
 */
export function browserTag(docName: string): string {
  const input = `${browserSecret()}\u0000${docName}`;
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < input.length; i++) {
    const c = input.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36);
}

/** A random secret this browser keeps (localStorage); one per tab where storage is off. */
function browserSecret(): string {
  const store = storage();
  try {
    const known = store?.getItem(BROWSER_KEY);
    if (known) return known;
  } catch {
    // unreadable storage: this tab's own id below
  }
  const fresh = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
  try {
    if (store) {
      store.setItem(BROWSER_KEY, fresh);
      return fresh;
    }
  } catch {
    // storage full or disabled: other tabs won't be recognised
  }
  browserFallback ??= fresh;
  return browserFallback;
}

export function userFor(name: string): User {
  return { name, color: colourFor(name) };
}

const DOC_WORDS_A = [
  "amber", "brisk", "calm", "dappled", "early", "fresh", "golden", "hidden",
  "ivory", "jade", "keen", "lunar", "misty", "north", "olive", "quiet",
  "rapid", "silver", "tidal", "urban", "vivid", "wild", "young", "zen",
];
const DOC_WORDS_B = [
  "harbor", "meadow", "canyon", "river", "forest", "island", "summit", "valley",
  "garden", "lagoon", "prairie", "glacier", "orchard", "delta", "grove", "reef",
  "ridge", "bay", "cove", "dune", "fjord", "marsh", "spring", "trail",
];

/** A readable random document name such as "misty-harbor-4821". */
export function randomDocName(): string {
  const n = crypto.getRandomValues(new Uint32Array(1))[0] % 10000;
  return `${pick(DOC_WORDS_A)}-${pick(DOC_WORDS_B)}-${String(n).padStart(4, "0")}`;
}
