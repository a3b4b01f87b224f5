// The lobby: a live directory of rooms, with how many people are in each and
// when someone last spoke. The tutorial's room-name form works without it.

import { RoomConnection, socketSettings, socketUrl } from "./connection.js";

const directory = document.getElementById("room-directory");
const emptyNote = document.getElementById("room-directory-empty");
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const rooms = new Map(); // name -> { online, last_activity, title, kind }; title and kind for private rooms only

function render() {
  const entries = [...rooms.entries()]
    .filter(([, room]) => room.online > 0 || room.last_activity)
    .sort(([, a], [, b]) => b.online - a.online || String(b.last_activity).localeCompare(String(a.last_activity)));
  directory.replaceChildren(
    ...entries.map(([name, room]) => {
      const item = document.createElement("li");
      item.dataset.room = name;
      const link = document.createElement("a");
      link.href = `/chat/${encodeURIComponent(name)}/`;
      link.textContent = room.title ?? name;
      const online = document.createElement("span");
      online.className = "online-count";
      online.textContent = `${room.online} online`;
      item.append(link, " ");
      if (room.kind) {
        const kind = document.createElement("span");
        kind.className = "room-kind";
        kind.textContent = room.kind === "direct" ? "(direct) " : "(private) ";
        item.append(kind);
      }
      item.append(online);
      if (room.last_activity) {
        const time = document.createElement("time");
        time.dateTime = room.last_activity;
        time.textContent = `last message ${timeFormat.format(new Date(room.last_activity))}`;
        item.append(" · ", time);
      }
      return item;
    }),
  );
  emptyNote.hidden = entries.length > 0;
}

function update(frame) {
  if (typeof frame.room !== "string") return;
  const room = rooms.get(frame.room) ?? { online: 0, last_activity: null };
  if (Number.isInteger(frame.online)) room.online = frame.online;
  if (typeof frame.last_activity === "string") room.last_activity = frame.last_activity;
  if (typeof frame.title === "string") room.title = frame.title;
  if (typeof frame.kind === "string") room.kind = frame.kind;
  rooms.set(frame.room, room);
  render();
}

const handlers = {
  directory: (frame) => {
    rooms.clear();
    (frame.rooms ?? []).forEach(update);
    render();
  },
  "room.update": update,
};

new RoomConnection({
  url: () => socketUrl("/ws/lobby/"),
  statusElement: document.getElementById("connection-status"),
  retryButton: document.getElementById("connection-retry"),
  onFrame: (frame) => handlers[frame.type]?.(frame),
  heartbeatSeconds: socketSettings().heartbeat,
}).open();
