// The bell in the header of every page of a signed-in person: their notifications, live in every tab.
//
// Each time its socket (ws/notifications/) opens, the server sends the inbox: the newest
// notifications and the ids of every unread one. The page replaces what it holds with it,
// which is its catch-up after a drop. Then come each new notification and each read made
// in any of the person's tabs. A read may arrive before the notification it marks (the two
// come from different processes), so reads are remembered and applied to notifications
// that arrive after them; a notification or a read heard twice changes nothing the second time.
// Text is only ever set with textContent.

import { RoomConnection, socketSettings, socketUrl } from "./connection.js";
import { setUnread } from "./tabtitle.js";

// The list shows as many as the server's inbox holds (notifications.selectors.INBOX_SHOWN);
// older ones leave the list, not the unread count, and "Mark all read" reaches them too.
export const LIST_LIMIT = 30;
// Reads remembered by id for notifications yet to arrive; a read is told at most a moment
// before its notification, so the newest ones are all that is worth keeping.
const REMEMBERED_READS = 1000;
const DESKTOP_PREFERENCE = "chat.notifications.desktop";
// One leading slash, then no second one or backslash (browsers read "/\host" as "//host"),
// and no white space or control character anywhere: what the server takes (notifications/links.py).
const SITE_PATH = /^\/(?![/\\])[^\s\\\u0000-\u001f\u007f]*$/;
const WEB_URL = /^https?:\/\/[^\s\\\u0000-\u001f\u007f]+$/i;

function isId(value) {
  return Number.isSafeInteger(value) && value > 0;
}

function isNotification(frame) {
  return isId(frame?.id) && typeof frame.message === "string";
}

// What the page knows of the person's notifications, without the page: which are listed, which unread.
export class Inbox {
  constructor() {
    this.listed = new Map(); // id -> notification frame, at most LIST_LIMIT, the newest
    this.unread = new Set(); // ids of every unread one known, listed or not
    this.kept = Infinity; // how many an account keeps: never more unread than that
    this.readIds = new Set(); // reads heard, kept for notifications that arrive after them
    this.readUpTo = 0; // every id up to this one was read ("Mark all read" in some tab)
    this.loaded = false; // an inbox frame has been heard
  }

  get count() {
    return this.unread.size;
  }

  // Newest first.
  notifications() {
    return [...this.listed.values()].sort((a, b) => b.id - a.id);
  }

  isUnread(id) {
    return this.unread.has(id);
  }

  wasRead(id) {
    return id <= this.readUpTo || this.readIds.has(id);
  }

  // The server's inbox: what it says replaces what the page held (reads heard stay true: nothing is unread again).
  replace(frame) {
    const notifications = Array.isArray(frame.notifications) ? frame.notifications.filter(isNotification) : [];
    this.listed = new Map(notifications.map((notification) => [notification.id, notification]));
    const unread = Array.isArray(frame.unread) ? frame.unread.filter(isId) : [];
    this.unread = new Set(unread.filter((id) => !this.wasRead(id)));
    this.kept = isId(frame.kept) ? frame.kept : Infinity;
    this.loaded = true;
    this.trim();
  }

  // A new notification; returns whether it is news (unread, and not heard before).
  add(frame) {
    if (!isNotification(frame)) return false;
    const known = this.listed.has(frame.id) || this.unread.has(frame.id);
    this.listed.set(frame.id, frame);
    const news = !known && frame.read == null && !this.wasRead(frame.id);
    if (news) this.unread.add(frame.id);
    this.trim();
    return news && this.unread.has(frame.id);
  }

  // Reads: `ids`, and with `upTo` every id up to it. Remembered when the server told them
  // (they are true for good); a read this page only asked for is not, as the server may not
  // have heard it (the socket dropped): the next inbox says.
  markRead(ids, upTo = null, { remember = true } = {}) {
    for (const id of ids.filter(isId)) {
      this.unread.delete(id);
      if (remember && id > this.readUpTo) this.readIds.add(id);
    }
    if (isId(upTo)) {
      for (const id of this.unread) if (id <= upTo) this.unread.delete(id);
      if (remember && upTo > this.readUpTo) {
        this.readUpTo = upTo;
        for (const id of this.readIds) if (id <= upTo) this.readIds.delete(id);
      }
    }
    this.trim();
  }

  markAllRead() {
    this.unread.clear();
  }

  trim() {
    dropSmallest(this.listed, this.listed.size - LIST_LIMIT);
    dropSmallest(this.unread, this.unread.size - this.kept);
    dropSmallest(this.readIds, this.readIds.size - REMEMBERED_READS);
  }
}

// Take the `count` smallest ids out of a Set or a Map keyed by id.
function dropSmallest(collection, count) {
  if (count <= 0) return;
  const ids = [...collection.keys()].sort((a, b) => a - b);
  for (const id of ids.slice(0, count)) collection.delete(id);
}

const timeFormat = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});

function unreadLabel(count) {
  return `Notifications, ${count > 0 ? count : "none"} unread`;
}

// The bell and its panel (templates/chat/base.html): the count, the list, and what can be done with them.
class Bell {
  constructor(root) {
    this.root = root;
    this.button = root.querySelector("#notifications-button");
    this.countElement = root.querySelector("#notifications-count");
    this.panel = root.querySelector("#notifications-panel");
    this.list = root.querySelector("#notifications-list");
    this.emptyNote = root.querySelector("#notifications-empty");
    this.markAllButton = root.querySelector("#notifications-mark-all");
    this.desktopBox = root.querySelector("#notifications-desktop");
    this.desktopNote = root.querySelector("#notifications-desktop-note");
    this.announcer = root.querySelector("#notifications-announcer");
    this.status = root.querySelector("#notifications-status");
    this.signedOutNote = root.querySelector("#notifications-signed-out");
    this.inbox = new Inbox();
    // The server refused the socket: this page's person logged out (in another tab, perhaps).
    // The bell then shows what it last knew, and nothing it can no longer do, until the page is reloaded.
    this.isSignedOut = false;
    this.items = new Map(); // id -> its li, kept across renders so focus stays where it is
    this.baseTitle = document.title; // for desktop notifications: the tab's title, without a count
    // On a room's page, the room's own unread messages are counted by the page (chat.js): a
    // mention there is not counted twice in the tab's title.
    const roomName = document.getElementById("room-name");
    this.roomHere = roomName ? JSON.parse(roomName.textContent) : null;
    // Until the inbox arrives, the count is the one the page was rendered with.
    this.renderedCount = Number(this.countElement.dataset.count) || 0;

    this.connection = new RoomConnection({
      url: () => socketUrl("/ws/notifications/"),
      statusElement: this.status,
      onFrame: (frame) => this.receive(frame),
      onGone: () => this.signedOut(),
      // Every page's header has the bell, and only some pages #socket-settings: the bell carries its own.
      heartbeatSeconds: Number(root.dataset.heartbeat) || socketSettings().heartbeat,
    });
    this.listen();
    this.showCount();
    this.showActions();
  }

  open() {
    this.connection.open();
  }

  listen() {
    this.button.addEventListener("click", () => this.setOpen(this.panel.hidden));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !this.panel.hidden) {
        this.setOpen(false);
        this.button.focus();
      }
    });
    document.addEventListener("click", (event) => {
      if (!this.panel.hidden && !this.root.contains(event.target)) this.setOpen(false);
    });
    this.markAllButton.addEventListener("click", () => this.markAllRead());
    this.root.querySelector("#notifications-reload").addEventListener("click", () => window.location.reload());
    this.desktopBox.addEventListener("change", () => this.chooseDesktop(this.desktopBox.checked));
    // The choice made in another tab of this site.
    window.addEventListener("storage", (event) => event.key === DESKTOP_PREFERENCE && this.showDesktopChoice());
  }

  setOpen(open) {
    this.panel.hidden = !open;
    this.button.setAttribute("aria-expanded", String(open));
  }

  receive(frame) {
    if (frame.type === "inbox") {
      this.inbox.replace(frame);
      this.render();
    } else if (frame.type === "notification") {
      const news = this.inbox.add(frame);
      this.render();
      if (news) this.tell(frame);
    } else if (frame.type === "notification.read") {
      this.inbox.markRead(Array.isArray(frame.ids) ? frame.ids : [], frame.up_to);
      this.render();
    }
  }

  // Mark one read: at once here, and in the other tabs when the server tells them.
  markRead(id) {
    if (!this.inbox.isUnread(id)) return;
    if (!this.connection.send({ type: "notification.read", ids: [id] })) return; // not connected: the status says so
    this.inbox.markRead([id], null, { remember: false });
    this.render();
  }

  markAllRead() {
    if (this.inbox.count === 0) return;
    if (!this.connection.send({ type: "notification.read", all: true })) return;
    this.inbox.markAllRead();
    this.render();
  }

  render() {
    const notifications = this.inbox.notifications();
    const wanted = new Set(notifications.map((notification) => notification.id));
    for (const [id, item] of this.items) {
      if (!wanted.has(id)) {
        item.remove();
        this.items.delete(id);
      }
    }
    // Each in its place, newest first, moving only those out of place (moving one takes focus off it).
    notifications.forEach((notification, index) => {
      const item = this.items.get(notification.id) ?? this.createItem(notification);
      this.showRead(item, !this.inbox.isUnread(notification.id));
      if (this.list.children[index] !== item) this.list.insertBefore(item, this.list.children[index] ?? null);
    });
    this.emptyNote.hidden = notifications.length > 0;
    this.showCount();
    this.showActions();
  }

  createItem(notification) {
    const item = document.createElement("li");
    item.className = "notification";
    item.dataset.id = String(notification.id);
    item.dataset.kind = typeof notification.kind === "string" ? notification.kind : "server";
    item.tabIndex = -1; // where focus goes when its "Mark read" button goes

    const link = typeof notification.link === "string" ? notification.link : "";
    let text;
    if (SITE_PATH.test(link) || WEB_URL.test(link)) {
      text = document.createElement("a");
      text.href = link;
      if (WEB_URL.test(link)) {
        text.target = "_blank";
        text.rel = "noopener noreferrer";
      }
      // Following it is reading it (a middle click too).
      const read = () => this.markRead(notification.id);
      text.addEventListener("click", read);
      text.addEventListener("auxclick", read);
    } else {
      text = document.createElement("span");
    }
    text.className = "notification-text";
    text.textContent = notification.message;

    const meta = document.createElement("div");
    meta.className = "notification-meta";
    const created = new Date(notification.created);
    if (!Number.isNaN(created.getTime())) {
      const time = document.createElement("time");
      time.dateTime = notification.created;
      time.textContent = timeFormat.format(created);
      meta.append(time);
    }
    const button = document.createElement("button");
    button.type = "button";
    button.className = "mark-read";
    button.textContent = "Mark read";
    button.setAttribute("aria-label", `Mark read: ${notification.message.slice(0, 80)}`);
    button.addEventListener("click", () => this.markRead(notification.id));
    meta.append(button);

    item.append(text, meta);
    this.items.set(notification.id, item);
    return item;
  }

  showRead(item, read) {
    item.classList.toggle("unread", !read);
    const button = item.querySelector(".mark-read");
    const shown = !read && !this.isSignedOut;
    if (!shown && document.activeElement === button) item.focus();
    button.hidden = !shown;
  }

  // Signed out, no count: the last one known may be stale, and this page will hear of no change.
  showCount() {
    const count = this.isSignedOut ? 0 : this.inbox.loaded ? this.inbox.count : this.renderedCount;
    this.countElement.dataset.count = String(count);
    this.countElement.textContent = String(count);
    this.countElement.hidden = count === 0;
    this.button.setAttribute("aria-label", this.isSignedOut ? "Notifications, signed out" : unreadLabel(count));
    this.showTitle();
  }

  // "Mark all read" while there is something to mark and a server to tell; none at all once signed out.
  showActions() {
    const usable = !this.isSignedOut && this.inbox.count > 0;
    if (!usable && document.activeElement === this.markAllButton) {
      // A disabled or hidden button drops its focus to the page: it goes to the newest notification instead.
      (this.list.firstElementChild ?? this.button).focus();
    }
    this.markAllButton.disabled = !usable;
    this.markAllButton.hidden = this.isSignedOut;
    this.showDesktopChoice();
  }

  // The tab's title counts what is unread (tabtitle.js adds it up with the page's other counts).
  showTitle() {
    let count = Number(this.countElement.dataset.count);
    if (this.roomHere !== null && !this.isSignedOut) {
      const here = this.inbox
        .notifications()
        .filter((each) => each.kind === "mention" && each.room === this.roomHere && this.inbox.isUnread(each.id));
      count -= here.length;
    }
    setUnread("bell", count);
  }

  // A new notification, live: said to a screen reader, and on the desktop if wanted while this tab is hidden.
  tell(notification) {
    this.announcer.textContent = `New notification. ${unreadLabel(this.inbox.count)}.`;
    if (!document.hidden || !this.desktopWanted()) return;
    try {
      const shown = new window.Notification(this.baseTitle, {
        body: notification.message,
        tag: String(notification.id), // every tab of the person shows it: the browser keeps one per tag
      });
      shown.addEventListener("click", () => {
        window.focus();
        shown.close();
      });
    } catch {
      // Some browsers (Chrome on Android) show them from a service worker only: the bell has it.
    }
  }

  // The desktop notifications: wanted (stored in this browser) and allowed (the browser's permission).
  desktopWanted() {
    return "Notification" in window && window.Notification.permission === "granted" && readPreference() === "on";
  }

  async chooseDesktop(wanted) {
    if (wanted && "Notification" in window) {
      let permission = window.Notification.permission;
      // Asked only now, on the person's own click: a browser holds a request without one against the site.
      if (permission === "default") permission = await window.Notification.requestPermission();
      writePreference(permission === "granted" ? "on" : null);
    } else {
      writePreference(null);
    }
    this.showDesktopChoice();
  }

  showDesktopChoice() {
    const supported = "Notification" in window;
    this.desktopBox.closest(".notifications-desktop").hidden = !supported || this.isSignedOut;
    if (!supported) return;
    this.desktopBox.checked = this.desktopWanted();
    const blocked = window.Notification.permission === "denied";
    this.desktopNote.hidden = !blocked;
    this.desktopNote.textContent = blocked ? "This browser blocks them: allow notifications for this site first." : "";
  }

  // The socket was refused (4403): the page's person is a guest now. Said, with the way back; the
  // page is not reloaded for them, as it may hold a message they are typing. The socket is not
  // opened again (the page back from the browser's cache, say): it would speak for whoever
  // signed in since, under a header that names this page's person.
  signedOut() {
    this.isSignedOut = true;
    this.connection.stop();
    this.root.dataset.state = "signed-out";
    this.status.dataset.state = "closed";
    this.status.textContent = "Signed out, so notifications stopped here. Reload the page to log in again.";
    this.signedOutNote.hidden = false;
    this.announcer.textContent = "Signed out: notifications stopped. Reload the page to log in again.";
    this.render();
  }
}

function readPreference() {
  try {
    return window.localStorage.getItem(DESKTOP_PREFERENCE);
  } catch {
    return null; // storage switched off: nothing was chosen
  }
}

function writePreference(value) {
  try {
    if (value === null) window.localStorage.removeItem(DESKTOP_PREFERENCE);
    else window.localStorage.setItem(DESKTOP_PREFERENCE, value);
  } catch {
    // Storage switched off: the choice lasts as long as nothing; the box shows it unchecked.
  }
}

const root = document.getElementById("notification-bell");
if (root) new Bell(root).open();
