// The room page: shows the room's messages and sends what the person types.
// User text is only ever set with textContent (or as text nodes), so it is shown, never run.
// How a message looks (links, grouping, colours, mentions) is messages.js's; the message box is
// composer.js's; loading older messages is history.js's. This module wires them to the socket.

import { Composer, enterSends, growWithText, tooLong } from "./composer.js";
import { RoomConnection, roomSocketUrl, socketSettings } from "./connection.js";
import { HistoryLoader } from "./history.js";
import { mentions, nameColour, regroup, showText } from "./messages.js";
import { Outbox } from "./outbox.js";
import { markRead } from "./readmarks.js";
import { setUnread } from "./tabtitle.js";
import { MentionToasts } from "./toasts.js";

const roomName = JSON.parse(document.getElementById("room-name").textContent);
const myName = JSON.parse(document.getElementById("display-name").textContent);
// Who this page speaks as ({name, kind, key}): its own messages are those whose sender is this key.
const person = JSON.parse(document.getElementById("person").textContent);
// Whether this person may delete anyone's message here (the room's owner or a moderator, or staff).
const canModerate = JSON.parse(document.getElementById("can-moderate").textContent);
const settings = socketSettings();
const scroller = document.getElementById("chat-scroll");
const log = document.getElementById("chat-log");
const form = document.getElementById("chat-form");
const input = document.getElementById("chat-message-input");
const submitButton = document.getElementById("chat-message-submit");
const errorBox = document.getElementById("chat-error");
const mentionToasts = new MentionToasts(document.getElementById("toasts"));
const presence = document.getElementById("presence");
const presenceDetails = document.getElementById("presence-details");
const presenceList = document.getElementById("presence-list");
const presenceCount = document.getElementById("presence-count");
const presenceUnknownNote = document.getElementById("presence-unknown");
const typingIndicator = document.getElementById("typing-indicator");
const directMessageForm = document.getElementById("dm-form");
// The longest message the server takes, in characters (code points, as it counts them).
const maxLength = Number(input.dataset.maxLength) || 0;

const TYPING_SHOWN_MS = 3000; // how long "is typing" stays after the last keystroke heard
const TYPING_SEND_EVERY_MS = 2000; // how often a typist tells the room, at most
const READ_SEND_EVERY_MS = 3000; // how often a signed-in person's page tells the server what they have seen, at most
const NEAR_BOTTOM_PX = 40; // a log scrolled this close to its end follows new messages

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

// Messages typed but not yet acknowledged (outbox.js), kept across reloads; their
// "sending…" items in the log, by client id.
const outbox = new Outbox({
  room: roomName,
  send: ({ clientId, message }) => connection.send({ message, client_id: clientId }),
  rate: settings.rate,
  burst: settings.burst,
});
const pendingItems = new Map();
let newestId = 0;

// The authors whose kind is worth a badge; an account's messages carry none.
const AUTHOR_BADGES = { guest: "guest", staff: "staff" };
// Read marks for a signed-in person are kept by the server (a guest's stay in this browser).
const isAccount = person.kind === "account" || person.kind === "staff";

function isMine(frame) {
  return typeof frame.sender === "string" && frame.sender !== "" && frame.sender === person.key;
}

// One message as an item of the log: a line of who and when (and the controls), then the text.
function renderMessage({ author, created, message, kind, author_kind: authorKind, edited, sender }) {
  const item = document.createElement("li");
  const mine = kind !== "system" && isMine({ sender });
  item.className = kind === "system" ? "message system" : mine ? "message own" : "message";
  item.dataset.sender = typeof sender === "string" ? sender : "";

  const authorElement = document.createElement("span");
  authorElement.className = "author";
  authorElement.textContent = author;
  if (typeof authorKind === "string") authorElement.dataset.kind = authorKind;
  authorElement.dataset.colour = String(nameColour(typeof sender === "string" && sender ? sender : author));
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.append(authorElement);
  if (Object.hasOwn(AUTHOR_BADGES, authorKind)) {
    const badge = document.createElement("span");
    badge.className = "author-kind";
    badge.textContent = AUTHOR_BADGES[authorKind];
    meta.append(" ", badge);
  }

  const time = document.createElement("time");
  time.dateTime = created;
  time.textContent = timeFormat.format(new Date(created));
  meta.append(" ", time);

  const text = document.createElement("span");
  text.className = "text";
  showText(text, message);

  item.append(meta, " ", text);
  showMentions(item, message);
  if (typeof edited === "string") markEdited(item, edited);
  return item;
}

// Someone else's message naming me (@myName) stands out.
function showMentions(item, message) {
  item.classList.toggle("mentions-me", !item.classList.contains("own") && mentions(message, myName));
}

// The "edited" mark, and the time of the edit shown, so that an older edit heard late is not applied over it.
function markEdited(item, edited) {
  item.dataset.edited = edited;
  let mark = item.querySelector(".edited");
  if (!mark) {
    mark = document.createElement("span");
    mark.className = "edited";
    mark.textContent = "edited";
    item.querySelector("time").after(" ", mark);
  }
  mark.title = `Edited ${new Date(edited).toLocaleString()}`;
}

function addButton(item, className, label, ariaLabel, onClick) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = className;
  button.textContent = label;
  button.setAttribute("aria-label", ariaLabel);
  button.addEventListener("click", onClick);
  item.querySelector(".meta").append(" ", button);
}

// Sending an edit or a delete spends from the outbox's rate budget, like a message.
function sendChange(frame) {
  if (outbox.spend() && connection.send(frame)) return true;
  showError({ detail: "Too many actions at once, or not connected: wait a moment and try again." });
  return false;
}

// My own messages get an edit control; mine, or all of them for a moderator, a delete control.
function addControls(item, id) {
  const mine = item.classList.contains("own");
  const author = item.querySelector(".author").textContent;
  if (mine) addButton(item, "edit", "Edit", `Edit message ${id}`, () => startEditing(item, id));
  if (mine || canModerate) {
    const label = `Delete message ${id} from ${author}`;
    addButton(item, "delete", "Delete", label, () => sendChange({ type: "delete", id }));
  }
}

// Edit mode: the text gives way to a box in the item, with the message box's keys: Enter saves,
// Shift+Enter starts a new line, Escape cancels. The item shows the new text once the server's
// edit frame says it is stored.
function startEditing(item, id) {
  if (item.querySelector(".edit-input")) return;
  const text = item.querySelector(".text");
  const editor = document.createElement("textarea");
  editor.className = "edit-input";
  editor.rows = 1;
  editor.value = text.textContent;
  editor.setAttribute("aria-label", `New text of message ${id}`);
  editor.title = "Enter saves, Shift+Enter starts a new line, Escape cancels";
  const hint = document.createElement("small");
  hint.className = "edit-hint";
  hint.textContent = "Enter to save · Shift+Enter for a new line · Esc to cancel";
  const stop = () => {
    editor.remove();
    hint.remove();
    text.hidden = false;
  };
  editor.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      stop();
    }
  });
  enterSends(editor, () => {
    const message = editor.value;
    const refusal = tooLong(message, maxLength);
    if (!message.trim() || message === text.textContent) stop();
    else if (refusal) showError({ detail: refusal.replace("Not sent", "Not saved") });
    else if (sendChange({ type: "edit", id, message })) stop();
  });
  text.hidden = true;
  text.after(editor, hint);
  growWithText(editor);
  editor.focus();
}

// The log's scrolling: it follows new messages while the person is at its end, and stays put
// while they read further up.
function nearBottom() {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < NEAR_BOTTOM_PX;
}

function scrollToBottom() {
  scroller.scrollTop = scroller.scrollHeight;
}

// The log at its end stays there when its box changes size: the message box growing by a line,
// a phone's keyboard opening.
let followsEnd = true;
scroller.addEventListener("scroll", () => (followsEnd = nearBottom()), { passive: true });
new ResizeObserver(() => followsEnd && scrollToBottom()).observe(scroller);

// Put a stored message in its place: in id order, ahead of any still pending. Looked for from
// the end, where a new message almost always goes.
function insertInOrder(item, id) {
  item.dataset.id = String(id);
  addControls(item, id);
  let earlier = log.lastElementChild;
  while (earlier && !(earlier.dataset.id && Number(earlier.dataset.id) < id)) earlier = earlier.previousElementSibling;
  log.insertBefore(item, earlier ? earlier.nextElementSibling : log.firstElementChild);
  newestId = Math.max(newestId, id);
}

// An older message, looked for from the start, where it almost always goes: from the end, a
// long log read back page by page would cost a walk of the whole log for every message.
function insertOlder(item, id) {
  item.dataset.id = String(id);
  addControls(item, id);
  let later = log.firstElementChild;
  while (later && later.dataset.id && Number(later.dataset.id) < id) later = later.nextElementSibling;
  log.insertBefore(item, later);
}

function place(item, id) {
  const follow = nearBottom();
  insertInOrder(item, id);
  regroup([item]);
  if (follow || item.classList.contains("own")) scrollToBottom();
}

function messageItem(id) {
  return Number.isInteger(id) ? log.querySelector(`li[data-id="${id}"]`) : null;
}

function hasMessage(id) {
  return messageItem(id) !== null;
}

function addMessage(frame) {
  if (!Number.isInteger(frame.id) || hasMessage(frame.id)) return;
  place(renderMessage(frame), frame.id);
  stopTyping(frame.author);
  if (firstFramesIn && document.hidden && !isMine(frame)) {
    unseen += 1;
    setUnread("room", unseen);
  }
  seen();
}

// Older messages from a `history` reply, those not shown yet, above the rest. Screen readers
// are not read the whole page of them as if just said: the log is not live meanwhile.
function addOlder(frames) {
  const items = [];
  log.setAttribute("aria-live", "off");
  for (const frame of frames) {
    if (!Number.isInteger(frame?.id) || hasMessage(frame.id)) continue;
    const item = renderMessage(frame);
    insertOlder(item, frame.id);
    items.push(item);
  }
  regroup(items);
  requestAnimationFrame(() => log.setAttribute("aria-live", "polite"));
}

const older = new HistoryLoader({
  scroller,
  button: document.getElementById("chat-history-more"),
  startNote: document.getElementById("chat-history-start"),
  oldestId: () => {
    const oldest = log.querySelector("li[data-id]");
    return oldest ? Number(oldest.dataset.id) : null;
  },
  // Like an edit, a request spends from the rate budget; without room in it, it waits its turn.
  request: (before) => (outbox.spend() ? connection.send({ type: "history", before }) : "later"),
});

// What is new to the person: messages that arrived while the tab was hidden (counted in the
// tab's title), and the newest one they have seen (this browser's read mark; for a signed-in
// person also the server's, which the lobby on any device counts from).
let unseen = 0;
let seenId = 0; // the newest message id shown while the tab was visible
let readSentId = 0; // the newest id told to the server
let readSentAt = -Infinity;
let readTimer = null;

function seen() {
  if (document.hidden || newestId === 0) return;
  seenId = Math.max(seenId, newestId);
  markRead(roomName, seenId);
  tellRead();
}

// The `read` frame: at most every READ_SEND_EVERY_MS (`now`: at once), and only when no message
// waits and the rate budget has room, so that it never holds a message back; else later.
function tellRead(now = false) {
  if (!isAccount) return;
  clearTimeout(readTimer);
  readTimer = null;
  if (seenId <= readSentId) return;
  const wait = readSentAt + READ_SEND_EVERY_MS - performance.now();
  if (wait > 0 && !now) {
    readTimer = setTimeout(tellRead, wait);
  } else if (outbox.size === 0 && outbox.spend() && connection.send({ type: "read", id: seenId })) {
    readSentId = seenId;
    readSentAt = performance.now();
  } else {
    readTimer = setTimeout(tellRead, READ_SEND_EVERY_MS);
  }
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) {
    unseen = 0;
    setUnread("room", 0);
    seen();
  }
  tellRead(true);
});

// Signed-in people can be messaged: "Message <name>" posts the page's CSRF-protected form to /chat/dm/<name>/.
const MESSAGEABLE_KINDS = new Set(["account", "staff"]);

function directMessageButton(name) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "dm-button";
  button.dataset.username = name;
  button.textContent = `Message ${name}`;
  button.addEventListener("click", () => {
    directMessageForm.action = `/chat/dm/${encodeURIComponent(name)}/`;
    directMessageForm.submit();
  });
  return button;
}

function presenceItem({ name, kind }) {
  // A frame without kinds (from a server of the version before) names me by my name alone.
  const isMe = name === person.name && (kind === person.kind || kind === undefined);
  const item = document.createElement("li");
  const label = document.createElement("span");
  label.className = "presence-name";
  label.textContent = isMe ? `${name} (you)` : name;
  item.append(label);
  if (!isMe && MESSAGEABLE_KINDS.has(kind)) item.append(" ", directMessageButton(name));
  return item;
}

function showPresence(frame) {
  if (!Array.isArray(frame.users)) return;
  const people = Array.isArray(frame.people) ? frame.people : frame.users.map((name) => ({ name }));
  presenceList.replaceChildren(...people.filter((person) => typeof person?.name === "string").map(presenceItem));
  presenceCount.textContent = String(frame.users.length);
  presence.dataset.state = "known";
  presenceUnknownNote.hidden = true;
}

// Without an open socket the page hears nobody come or go: rather than a list that may be
// stale, it says it does not know. The next presence frame says again.
function forgetPresence() {
  presence.dataset.state = "unknown";
  presenceCount.textContent = "?";
  presenceList.replaceChildren();
  presenceUnknownNote.hidden = false;
  for (const author of [...typists.keys()]) stopTyping(author);
}

// On a phone the list of who is here starts folded, to leave the screen to the conversation.
const narrowScreen = window.matchMedia("(max-width: 40rem)");
const foldPresence = () => (presenceDetails.open = !narrowScreen.matches);
narrowScreen.addEventListener("change", foldPresence);
foldPresence();

// Who is typing now, each with the timer that forgets them.
const typists = new Map();

function showTyping() {
  const names = [...typists.keys()];
  typingIndicator.textContent =
    names.length === 0 ? "" : `${names.join(", ")} ${names.length === 1 ? "is" : "are"} typing…`;
}

function startTyping(frame) {
  if (typeof frame.author !== "string" || frame.author === myName) return;
  clearTimeout(typists.get(frame.author));
  typists.set(frame.author, setTimeout(() => stopTyping(frame.author), TYPING_SHOWN_MS));
  showTyping();
}

function stopTyping(author) {
  if (!typists.has(author)) return;
  clearTimeout(typists.get(author));
  typists.delete(author);
  showTyping();
}

function acknowledge(frame) {
  const entry = outbox.acknowledge(frame.client_id);
  pendingItems.get(frame.client_id)?.remove();
  pendingItems.delete(frame.client_id);
  if (entry && Number.isInteger(frame.id) && !hasMessage(frame.id)) {
    const item = renderMessage(myOwn(entry.message, new Date().toISOString()));
    place(item, frame.id);
    seen();
  }
}

// What a message of mine looks like before the server's frame for it arrives.
function myOwn(message, created) {
  return { author: myName, created, message, author_kind: person.kind, sender: person.key };
}

// An edit applies once: an edit older than the one shown (heard late, or again in a catch-up) changes nothing.
// The times are ISO strings of one format, which compare as the times they spell.
function applyEdit(frame) {
  const item = messageItem(frame.id);
  if (!item || typeof frame.message !== "string" || typeof frame.edited !== "string") return;
  if (item.dataset.edited && item.dataset.edited >= frame.edited) return;
  showText(item.querySelector(".text"), frame.message);
  showMentions(item, frame.message);
  markEdited(item, frame.edited);
}

function removeMessage(frame) {
  const item = messageItem(frame.id);
  if (!item) return;
  const next = item.nextElementSibling;
  item.remove();
  regroup([next]);
}

// Someone wrote @myName in another room: say so, with a way there (toasts.js keeps it to a few short notes).
// A signed-in person's page has the bell instead, which counts the mention and keeps it:
// a toast as well would say one thing twice, over the bell itself.
const hasBell = document.getElementById("notification-bell") !== null;
function showMention(frame) {
  if (hasBell || frame.room === roomName || typeof frame.room !== "string") return; // Already on this page.
  mentionToasts.show(frame);
}

function showError(frame) {
  errorBox.textContent = frame.detail;
  errorBox.hidden = false;
}

// A refusal naming one of this page's messages: waiting for the rate limit (or
// for the database) is the outbox's business, and the message stays "sending…";
// any other reason means it can never be stored: it leaves the log and goes back
// into the message box to be mended, and the person is told why.
function refused(frame) {
  const entry = outbox.entries.find((each) => each.clientId === frame.client_id);
  if (frame.code === "unknown_type" && !entry) {
    // A server of the version before, which knows no `history` or `read` frame: nothing the
    // person could mend; the log shows what the socket sent first.
    older.failed();
  } else if (frame.code === "rate_limited" && !entry) {
    // Not a message: a "typing", `read` or `history` the page let out early (an edit or a delete
    // is paced before it goes). Only wait; a history request refused goes again when asked.
    outbox.hold(frame.retry_after);
    older.failed(frame.retry_after);
  } else if (!entry) {
    showError(frame);
  } else if (outbox.refused(frame) === "dropped") {
    pendingItems.get(frame.client_id)?.remove();
    pendingItems.delete(frame.client_id);
    if (!composer.value) composer.value = entry.message; // unless something else is being typed already
    showError({ detail: `Not sent: ${frame.detail}` });
  }
}

function showPending({ clientId, message, created }) {
  const item = renderMessage(myOwn(message, created));
  item.classList.add("pending");
  item.dataset.clientId = clientId;
  item.title = "Not sent yet: it goes out by itself, in its turn.";
  log.append(item);
  regroup([item]);
  scrollToBottom();
  pendingItems.set(clientId, item);
}

// The first presence frame after a socket opens follows what the socket sends first (the
// history, or the messages missed): the log is then as the server has it, and older messages
// may be asked for. Messages heard before it, on the page's first socket, are not news.
let firstFramesIn = false;
let awaitingFirstFrames = true;

function heardPresence(frame) {
  showPresence(frame);
  if (awaitingFirstFrames) {
    awaitingFirstFrames = false;
    firstFramesIn = true;
    seen();
    older.start();
  }
}

const handlers = {
  "chat.message": addMessage,
  ack: acknowledge,
  edit: applyEdit,
  delete: removeMessage,
  mention: showMention,
  presence: heardPresence,
  typing: startTyping,
  history: (frame) => older.received(frame, addOlder),
  error: refused,
};

const connection = new RoomConnection({
  url: () => roomSocketUrl(roomName, newestId),
  statusElement: document.getElementById("connection-status"),
  retryButton: document.getElementById("connection-retry"),
  onFrame: (frame) => handlers[frame.type]?.(frame), // Frame types this page doesn't know are ignored.
  onOpen: () => {
    awaitingFirstFrames = true;
    outbox.connected();
  },
  onState: (state) => {
    if (state === "open") return;
    forgetPresence();
    older.stop();
  },
  // Closed for good: nothing typed could be sent.
  onGone: () => {
    input.disabled = true;
    submitButton.disabled = true;
  },
  heartbeatSeconds: settings.heartbeat,
});

let lastTypingSent = 0;
input.addEventListener("input", () => {
  const now = Date.now();
  if (!input.value.trim() || now - lastTypingSent < TYPING_SEND_EVERY_MS) return;
  // Only when no message waits and the rate limit has room: saying "typing" may never delay one.
  if (outbox.size === 0 && outbox.spend() && connection.send({ type: "typing" })) {
    lastTypingSent = now;
  }
});

const composer = new Composer({
  form,
  input,
  counter: document.getElementById("chat-message-counter"),
  limit: maxLength,
  onSend: (message) => {
    showPending(outbox.add(message));
    lastTypingSent = 0;
    composer.value = "";
    errorBox.hidden = true;
    input.focus();
  },
  onTooLong: (detail) => showError({ detail }),
  onFits: () => {
    errorBox.hidden = true;
  },
});

outbox.entries.forEach(showPending); // kept from before a reload: sent once connected
connection.open();
