// The room page: shows the room's messages and sends what the person types.
// User text is only ever set with textContent, so it is shown, never run.

import { RoomConnection, roomSocketUrl, socketSettings } from "./connection.js";
import { Outbox } from "./outbox.js";
import { MentionToasts } from "./toasts.js";

const roomName = JSON.parse(document.getElementById("room-name").textContent);
const myName = JSON.parse(document.getElementById("display-name").textContent);
// Who this page speaks as ({name, kind, key}): its own messages are those whose sender is this key.
const person = JSON.parse(document.getElementById("person").textContent);
// Whether this person may delete anyone's message here (the room's owner or a moderator, or staff).
const canModerate = JSON.parse(document.getElementById("can-moderate").textContent);
const settings = socketSettings();
const log = document.getElementById("chat-log");
const form = document.getElementById("chat-form");
const input = document.getElementById("chat-message-input");
const errorBox = document.getElementById("chat-error");
const mentionToasts = new MentionToasts(document.getElementById("toasts"));
const presenceList = document.getElementById("presence-list");
const presenceCount = document.getElementById("presence-count");
const typingIndicator = document.getElementById("typing-indicator");
const directMessageForm = document.getElementById("dm-form");

const TYPING_SHOWN_MS = 3000; // how long "is typing" stays after the last keystroke heard
const TYPING_SEND_EVERY_MS = 2000; // how often a typist tells the room, at most

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

function isMine(frame) {
  return typeof frame.sender === "string" && frame.sender !== "" && frame.sender === person.key;
}

function renderMessage({ author, created, message, kind, author_kind: authorKind, edited, sender }) {
  const item = document.createElement("li");
  const mine = kind !== "system" && isMine({ sender });
  item.className = kind === "system" ? "message system" : mine ? "message own" : "message";

  const authorElement = document.createElement("span");
  authorElement.className = "author";
  authorElement.textContent = author;
  if (typeof authorKind === "string") authorElement.dataset.kind = authorKind;
  const parts = [authorElement];
  if (Object.hasOwn(AUTHOR_BADGES, authorKind)) {
    const badge = document.createElement("span");
    badge.className = "author-kind";
    badge.textContent = AUTHOR_BADGES[authorKind];
    parts.push(" ", badge);
  }

  const time = document.createElement("time");
  time.dateTime = created;
  time.textContent = timeFormat.format(new Date(created));

  const text = document.createElement("span");
  text.className = "text";
  text.textContent = message;

  item.append(...parts, " ", time, " ", text);
  if (typeof edited === "string") markEdited(item, edited);
  return item;
}

// The "edited" mark, and the time of the edit shown, so that an older edit heard late is not applied over it.
function markEdited(item, edited) {
  item.dataset.edited = edited;
  let mark = item.querySelector(".edited");
  if (!mark) {
    mark = document.createElement("span");
    mark.className = "edited";
    mark.textContent = "edited";
    item.querySelector(".text").after(" ", mark);
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
  item.append(" ", button);
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

// Edit mode: the text gives way to an input in the item; Enter saves, Escape cancels. The item shows
// the new text once the server's edit frame says it is stored.
function startEditing(item, id) {
  if (item.querySelector(".edit-input")) return;
  const text = item.querySelector(".text");
  const editor = document.createElement("input");
  editor.type = "text";
  editor.className = "edit-input";
  editor.maxLength = input.maxLength;
  editor.value = text.textContent;
  editor.setAttribute("aria-label", `New text of message ${id}`);
  editor.title = "Enter saves, Escape cancels";
  const hint = document.createElement("small");
  hint.className = "edit-hint";
  hint.textContent = "Enter to save · Esc to cancel";
  const stop = () => {
    editor.remove();
    hint.remove();
    text.hidden = false;
  };
  editor.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      stop();
    } else if (event.key === "Enter") {
      event.preventDefault();
      const message = editor.value;
      if (!message.trim() || message === text.textContent) stop();
      else if (sendChange({ type: "edit", id, message })) stop();
    }
  });
  text.hidden = true;
  text.after(editor, hint);
  editor.focus();
}

// Stored messages stay in id order, each once, ahead of any still pending.
function place(item, id) {
  item.dataset.id = String(id);
  addControls(item, id);
  const later = [...log.children].find((other) => !other.dataset.id || Number(other.dataset.id) > id);
  const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.insertBefore(item, later ?? null);
  newestId = Math.max(newestId, id);
  if (nearBottom || item.classList.contains("own")) log.scrollTop = log.scrollHeight;
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
}

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
}

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
  item.querySelector(".text").textContent = frame.message;
  markEdited(item, frame.edited);
}

function removeMessage(frame) {
  messageItem(frame.id)?.remove();
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
  if (frame.code === "rate_limited" && !entry) {
    // Not a message: a "typing" the page let out early (an edit or a delete is paced before it goes). Only wait.
    outbox.hold(frame.retry_after);
  } else if (!entry) {
    showError(frame);
  } else if (outbox.refused(frame) === "dropped") {
    pendingItems.get(frame.client_id)?.remove();
    pendingItems.delete(frame.client_id);
    if (!input.value) input.value = entry.message; // unless something else is being typed already
    showError({ detail: `Not sent: ${frame.detail}` });
  }
}

function showPending({ clientId, message, created }) {
  const item = renderMessage(myOwn(message, created));
  item.classList.add("pending");
  item.dataset.clientId = clientId;
  item.title = "Not sent yet: it goes out by itself, in its turn.";
  log.append(item);
  log.scrollTop = log.scrollHeight;
  pendingItems.set(clientId, item);
}

const handlers = {
  "chat.message": addMessage,
  ack: acknowledge,
  edit: applyEdit,
  delete: removeMessage,
  mention: showMention,
  presence: showPresence,
  typing: startTyping,
  error: refused,
};

const connection = new RoomConnection({
  url: () => roomSocketUrl(roomName, newestId),
  statusElement: document.getElementById("connection-status"),
  retryButton: document.getElementById("connection-retry"),
  onFrame: (frame) => handlers[frame.type]?.(frame), // Frame types this page doesn't know are ignored.
  onOpen: () => outbox.connected(),
  // Closed for good: nobody here is known to be present any more, and nothing typed could be sent.
  onGone: () => {
    presenceList.replaceChildren();
    presenceCount.textContent = "?";
    input.disabled = true;
    document.getElementById("chat-message-submit").disabled = true;
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

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const message = input.value;
  if (!message.trim()) return;
  showPending(outbox.add(message));
  lastTypingSent = 0;
  input.value = "";
  errorBox.hidden = true;
  input.focus();
});

outbox.entries.forEach(showPending); // kept from before a reload: sent once connected
connection.open();
