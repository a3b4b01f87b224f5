// The newest message id this browser has shown of each room, in localStorage: how a guest's
// lobby counts a room's unread messages (a signed-in person's marks are kept by the server,
// and reach every device: the lobby's directory carries them as "read").

const PREFIX = "chat-read:";

function storage() {
  try {
    return window.localStorage;
  } catch {
    return null; // storage switched off: no marks, so no unread counts
  }
}

// The newest id shown of `room` in this browser, or null for a room never opened here.
export function readMark(room) {
  try {
    const value = Number(storage()?.getItem(PREFIX + room));
    return Number.isInteger(value) && value > 0 ? value : null;
  } catch {
    return null;
  }
}

// Remember that messages of `room` up to `id` were shown; a lower id than the one kept changes nothing.
export function markRead(room, id) {
  if (!Number.isInteger(id) || id <= 0 || (readMark(room) ?? 0) >= id) return;
  try {
    storage()?.setItem(PREFIX + room, String(id));
  } catch {
    // Full or refused: the count stays as it was.
  }
}
