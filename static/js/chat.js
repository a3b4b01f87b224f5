// The room page: shows the room's messages and sends what the person types.
// User text is only ever set with textContent, so it is shown, never run.

import { RoomConnection } from "./connection.js";

const roomName = JSON.parse(document.getElementById("room-name").textContent);
const myName = JSON.parse(document.getElementById("display-name").textContent);
const log = document.getElementById("chat-log");
const form = document.getElementById("chat-form");
const input = document.getElementById("chat-message-input");
const errorBox = document.getElementById("chat-error");

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

function renderMessage(frame) {
  const item = document.createElement("li");
  item.className = frame.author === myName ? "message own" : "message";
  item.dataset.id = String(frame.id);

  const author = document.createElement("span");
  author.className = "author";
  author.textContent = frame.author;

  const time = document.createElement("time");
  time.dateTime = frame.created;
  time.textContent = timeFormat.format(new Date(frame.created));

  const text = document.createElement("span");
  text.className = "text";
  text.textContent = frame.message;

  item.append(author, " ", time, " ", text);
  return item;
}

// Messages stay in id order and appear once, however they arrive.
function addMessage(frame) {
  if (!Number.isInteger(frame.id) || log.querySelector(`li[data-id="${frame.id}"]`)) return;
  const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  const later = [...log.children].find((item) => Number(item.dataset.id) > frame.id);
  log.insertBefore(renderMessage(frame), later ?? null);
  if (nearBottom || frame.author === myName) log.scrollTop = log.scrollHeight;
}

function showError(frame) {
  errorBox.textContent = frame.detail;
  errorBox.hidden = false;
}

const handlers = {
  "chat.message": addMessage,
  error: showError,
};

const connection = new RoomConnection(roomName, document.getElementById("connection-status"), (frame) => {
  handlers[frame.type]?.(frame); // Frame types this page doesn't know are ignored.
});

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value;
  if (!text.trim()) return;
  if (connection.send({ message: text })) {
    input.value = "";
    errorBox.hidden = true;
  }
  input.focus();
});

connection.open();
