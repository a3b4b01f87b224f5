// The lobby: a live directory of rooms, as a conversation list. Each row says how many people
// are in the room (or "quiet"), when someone last spoke, and how many messages are new for this
// person in a room they have opened before. The tutorial's room-name form works without it.
//
// New is counted from the room's newest message id ("last_id") and the person's read mark: a
// signed-in person's comes from the server ("read", and "room.read" frames when they read on any
// device), a guest's from this browser (readmarks.js). The larger of the two counts, so a read
// this browser made a moment ago shows before the server has stored it. Without a mark (a room
// never opened) or without last_id (a server older than the count), no count is shown.
//
// Presence counts are only true while the socket is open: once it drops, they show as unknown
// until the next directory arrives. Text is only ever set with textContent.

import { RoomConnection, socketSettings, socketUrl } from "./connection.js";
import { readMark } from "./readmarks.js";

// Past this many, a row says "99+ new": the number matters less than that there is a lot.
export const MOST_COUNTED = 99;
const HUES = 8; // --name-0 ... --name-7 in chat.css

const directory = document.getElementById("room-directory");
const emptyNote = document.getElementById("room-directory-empty");
const unknownNote = document.getElementById("room-directory-unknown");
const statusElement = document.getElementById("connection-status");
const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const calendar = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });
// name -> { online, last_activity, last_id, read, title, kind }; title and kind for private rooms only
const rooms = new Map();
const items = new Map(); // name -> its li, kept across renders so keyboard focus stays on its link
let fresh = false; // the counts shown came from the socket that is open now

// How many of the room's messages this person has not seen; 0 when that can't be told.
export function unreadCount(room, localMark) {
  if (!Number.isInteger(room.last_id)) return 0;
  const marks = [room.read, localMark].filter(Number.isInteger);
  if (marks.length === 0) return 0;
  return Math.max(0, room.last_id - Math.max(...marks));
}

export function unreadText(count) {
  return count > MOST_COUNTED ? `${MOST_COUNTED}+ new` : `${count} new`;
}

// The same room gets the same colour on every visit and in every browser.
function hue(name) {
  let hash = 0;
  for (const character of name) hash = (hash * 31 + character.codePointAt(0)) >>> 0;
  return hash % HUES;
}

function lastMessage(iso) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return null;
  const today = new Date().toDateString() === when.toDateString();
  return `last message ${today ? clock.format(when) : calendar.format(when)}`;
}

function span(className, text) {
  const element = document.createElement("span");
  element.className = className;
  element.textContent = text;
  return element;
}

function onlineCount(room) {
  const count = span("online-count", "");
  if (!fresh) {
    count.dataset.state = "unknown";
    count.textContent = "? online";
    count.title = "Not connected: unknown";
  } else if (room.online > 0) {
    count.dataset.state = "online";
    count.textContent = `${room.online} online`;
  } else {
    count.dataset.state = "quiet";
    count.textContent = "quiet";
  }
  return count;
}

function itemFor(name) {
  let item = items.get(name);
  if (!item) {
    item = document.createElement("li");
    item.dataset.room = name;
    const link = document.createElement("a");
    link.className = "room-entry";
    link.href = `/chat/${encodeURIComponent(name)}/`;
    item.append(link);
    items.set(name, item);
  }
  return item;
}

function fill(item, name, room) {
  const label = room.title ?? name;
  const avatar = span("room-avatar", (Array.from(label)[0] ?? "#").toUpperCase());
  avatar.dataset.hue = String(hue(name));
  avatar.setAttribute("aria-hidden", "true");

  const line = document.createElement("span");
  line.className = "room-line";
  line.append(span("room-name", label));
  if (room.kind) line.append(" ", span("room-kind", room.kind === "direct" ? "direct" : "private"));

  const meta = document.createElement("span");
  meta.className = "room-meta";
  meta.append(onlineCount(room));
  const said = room.last_activity ? lastMessage(room.last_activity) : null;
  if (said) {
    const time = document.createElement("time");
    time.dateTime = room.last_activity;
    time.textContent = said;
    meta.append(" · ", time);
  }

  const summary = document.createElement("span");
  summary.className = "room-summary";
  summary.append(line, meta);

  const parts = [avatar, summary];
  const unread = unreadCount(room, readMark(name));
  if (unread > 0) {
    const badge = span("unread-count", unreadText(unread));
    badge.title = `${unread} unread message${unread === 1 ? "" : "s"}`;
    parts.push(" ", badge);
  }
  item.classList.toggle("unread", unread > 0);
  item.firstElementChild.replaceChildren(...parts);
}

function render() {
  const entries = [...rooms.entries()]
    .filter(([, room]) => room.online > 0 || room.last_activity)
    .sort(([, a], [, b]) => b.online - a.online || String(b.last_activity).localeCompare(String(a.last_activity)));
  const shown = new Set(entries.map(([name]) => name));
  for (const [name, item] of items) {
    if (!shown.has(name)) {
      item.remove();
      items.delete(name);
    }
  }
  // Each in its place, moving only those out of place (a moved link loses keyboard focus).
  entries.forEach(([name, room], index) => {
    const item = itemFor(name);
    fill(item, name, room);
    if (directory.children[index] !== item) directory.insertBefore(item, directory.children[index] ?? null);
  });
  emptyNote.hidden = entries.length > 0;
  unknownNote.hidden = fresh || entries.length === 0;
  directory.dataset.state = fresh ? "live" : "unknown";
}

function update(frame) {
  if (typeof frame.room !== "string") return;
  const room = rooms.get(frame.room) ?? { online: 0, last_activity: null };
  if (Number.isInteger(frame.online)) room.online = frame.online;
  if (typeof frame.last_activity === "string") room.last_activity = frame.last_activity;
  if (Number.isInteger(frame.last_id)) room.last_id = Math.max(room.last_id ?? 0, frame.last_id);
  if (Number.isInteger(frame.read)) room.read = frame.read;
  if (typeof frame.title === "string") room.title = frame.title;
  if (typeof frame.kind === "string") room.kind = frame.kind;
  rooms.set(frame.room, room);
}

const handlers = {
  directory: (frame) => {
    rooms.clear();
    (Array.isArray(frame.rooms) ? frame.rooms : []).forEach(update);
    fresh = true;
  },
  "room.update": update,
  // This person read the room up to `read`, in this browser or another of theirs.
  "room.read": (frame) => {
    if (typeof frame.room !== "string" || !Number.isInteger(frame.read)) return;
    const room = rooms.get(frame.room) ?? { online: 0, last_activity: null };
    room.read = Math.max(room.read ?? 0, frame.read);
    rooms.set(frame.room, room);
  },
};

// A room read in another tab of this browser (a guest's marks live here).
window.addEventListener("storage", (event) => {
  if (event.key === null || event.key.startsWith("chat-read:")) render();
});

new RoomConnection({
  url: () => socketUrl("/ws/lobby/"),
  statusElement,
  retryButton: document.getElementById("connection-retry"),
  onFrame: (frame) => {
    if (!Object.hasOwn(handlers, frame.type)) return;
    handlers[frame.type](frame);
    render();
  },
  // Once the socket is not open, what it said about who is where may be stale: shown as unknown
  // until the directory comes again.
  onState: (state) => {
    if (state !== "open" && fresh) {
      fresh = false;
      render();
    }
  },
  heartbeatSeconds: socketSettings().heartbeat,
}).open();
