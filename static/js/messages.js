// How one message of the room's log looks: its text with clickable web links, its author's
// colour, whether it mentions the page's person, and how it sits among its neighbours (grouped
// under one name, or opening a new day). chat.js builds the items; this module only shapes them.
// Text is only ever set as text nodes: a message's markup is shown, never made into elements.

import { find } from "./vendor/linkify.js";

// Messages of one person this close together (and on one day) are grouped under one name.
export const GROUP_WITHIN_MS = 5 * 60 * 1000;
// How many name colours the style sheet has (--name-0 … --name-7).
export const NAME_COLOURS = 8;

// Only what was written as a web address becomes a link: "https://…" or "http://…", in any
// case. linkifyjs also finds bare names such as "settings.py" or "example.com", which in a class
// are far more often file names or a word with a dot than a site someone meant to send people
// to; those stay text. Its href is built again by URL, which must agree it is http or https.
const WRITTEN_AS_WEB_ADDRESS = /^https?:\/\//i;
const WEB_PROTOCOLS = new Set(["http:", "https:"]);

// Characters that reorder what follows them on screen: in a link, its text would read as
// another address than the one it opens. The embeddings, overrides and isolates reach past
// themselves, so one anywhere in a message links nothing in it.
const DIRECTION_CONTROLS = /[\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const DIRECTION_RUNS = /[\u202a-\u202e\u2066-\u2069]/;
// What may follow the host in a web address: nothing, a port, a path, a query or a fragment.
const AFTER_HOST = new Set(["", ":", "/", "?", "#"]);

// A link must go where its text says. The host, as the browser will ask for it (lowercase,
// and punycode for any non-ASCII letter), must be written in the text as it is: a lookalike
// letter (a Cyrillic "а" in "аpple.com") or a slash that is no slash ("good.com⁄evil.com",
// whose host is really "good.xn--comevil-….com") would otherwise pass for another site. Such
// text, and any with direction controls, stays text.
function webAddress(found) {
  if (found.type !== "url" || !WRITTEN_AS_WEB_ADDRESS.test(found.value)) return null;
  if (DIRECTION_CONTROLS.test(found.value)) return null;
  let url;
  try {
    url = new URL(found.value);
  } catch {
    return null;
  }
  if (!WEB_PROTOCOLS.has(url.protocol)) return null;
  // Right after "//", where the text names its host: no "user@" before it, nothing after it but
  // a port, a path, a query or a fragment.
  const written = found.value.slice(found.value.indexOf("//") + 2).toLowerCase();
  if (!written.startsWith(url.hostname) || !AFTER_HOST.has(written.charAt(url.hostname.length))) return null;
  return url;
}

function link(text, url) {
  const anchor = document.createElement("a");
  anchor.className = "link";
  anchor.href = url.href;
  // A new tab that can't reach back to this page (noopener), told nothing of it (noreferrer),
  // and lends the site no standing with search engines (nofollow).
  anchor.target = "_blank";
  anchor.rel = "noopener noreferrer nofollow";
  anchor.textContent = text;
  anchor.dir = "ltr"; // an address reads left to right, whatever the text around it does
  return anchor;
}

// Fill `element` with `text`: text nodes, and an <a> for each web address in it.
export function showText(element, text) {
  const parts = [];
  let shown = 0;
  const addresses = DIRECTION_RUNS.test(text) ? [] : find(text);
  for (const found of addresses) {
    const url = webAddress(found);
    if (!url || found.start < shown) continue;
    if (found.start > shown) parts.push(document.createTextNode(text.slice(shown, found.start)));
    parts.push(link(text.slice(found.start, found.end), url));
    shown = found.end;
  }
  if (shown < text.length) parts.push(document.createTextNode(text.slice(shown)));
  element.replaceChildren(...parts);
}

// "@name" as the server reads it (chat/mentions.py): not after a letter, digit, "_" or "@",
// up to 32 of letters, digits, "_", "." and "-"; a trailing period is punctuation.
const MENTION = /(?<![\p{L}\p{N}_@])@([\p{L}\p{N}_.-]{1,32})/gu;

// Whether `text` mentions `name`, compared without regard to case, as names are.
export function mentions(text, name) {
  if (typeof name !== "string" || name === "") return false;
  const wanted = name.toLocaleLowerCase();
  for (const [, mentioned] of text.matchAll(MENTION)) {
    if (mentioned.replace(/\.+$/, "").toLocaleLowerCase() === wanted) return true;
  }
  return false;
}

// One of the NAME_COLOURS for a person, the same on every page and every visit: from their key
// (two people of one name get their own colours), or for the server and old frames, the name.
// FNV-1a over the string's UTF-16 units, then a finishing mix (MurmurHash3's): FNV's low bits
// alone follow the low bits of the last characters, and keys differ at their ends.
export function nameColour(key) {
  let hash = 0x811c9dc5;
  for (let index = 0; index < key.length; index += 1) {
    hash = Math.imul(hash ^ key.charCodeAt(index), 0x01000193);
  }
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return ((hash ^ (hash >>> 16)) >>> 0) % NAME_COLOURS;
}

const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long" });
const dayFormatWithYear = new Intl.DateTimeFormat(undefined, {
  weekday: "long",
  day: "numeric",
  month: "long",
  year: "numeric",
});

// The day a message was said, in the reader's own time zone: a key to compare, and its label.
export function dayOf(date) {
  return `${date.getFullYear()}-${date.getMonth() + 1}-${date.getDate()}`;
}

export function dayLabel(date, now = new Date()) {
  return (date.getFullYear() === now.getFullYear() ? dayFormat : dayFormatWithYear).format(date);
}

function saidAt(item) {
  const time = item.querySelector("time");
  const date = time ? new Date(time.dateTime) : null;
  return date && !Number.isNaN(date.getTime()) ? date : null;
}

// Whether `item` continues what `previous` began: one person (same key and name), not the
// server, within GROUP_WITHIN_MS of it and on the same day.
function continues(item, previous, date, previousDate) {
  if (!previous || !date || !previousDate) return false;
  if (item.classList.contains("system") || previous.classList.contains("system")) return false;
  if (item.dataset.sender !== previous.dataset.sender) return false;
  if (item.querySelector(".author").textContent !== previous.querySelector(".author").textContent) return false;
  const gap = date.getTime() - previousDate.getTime();
  return gap >= 0 && gap <= GROUP_WITHIN_MS && dayOf(date) === dayOf(previousDate);
}

// Mark `item` by its place in the log: `new-day` (with its day in data-day) for the first
// message of a day, `continued` for one grouped under the name of the one before.
export function placeAmongNeighbours(item) {
  if (!item) return;
  const previous = item.previousElementSibling;
  const date = saidAt(item);
  const previousDate = previous ? saidAt(previous) : null;
  const newDay = date !== null && (previousDate === null || dayOf(date) !== dayOf(previousDate));
  item.classList.toggle("new-day", newDay);
  if (newDay) item.dataset.day = dayLabel(date);
  else delete item.dataset.day;
  item.classList.toggle("continued", !newDay && continues(item, previous, date, previousDate));
}

// After `items` came into the log or left it (`items` being their neighbours then): each, and
// the one after each, are marked again.
export function regroup(items) {
  const touched = new Set();
  for (const item of items) {
    if (!item) continue;
    touched.add(item);
    if (item.nextElementSibling) touched.add(item.nextElementSibling);
  }
  for (const item of touched) if (item.isConnected) placeAmongNeighbours(item);
}
