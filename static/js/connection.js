// The room's WebSocket, and the #connection-status element that shows its state.

const CLOSE_NOT_FOUND = 4404;

export function roomSocketUrl(roomName, location = window.location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws/chat/${encodeURIComponent(roomName)}/`;
}

export class RoomConnection {
  constructor(roomName, statusElement, onFrame) {
    this.url = roomSocketUrl(roomName);
    this.statusElement = statusElement;
    this.onFrame = onFrame;
    this.socket = null;
  }

  open() {
    this.showState("connecting", "Connecting…");
    const socket = new WebSocket(this.url);
    socket.addEventListener("open", () => this.showState("open", "Connected"));
    socket.addEventListener("message", (event) => this.receive(event.data));
    socket.addEventListener("close", (event) => {
      const why = event.code === CLOSE_NOT_FOUND
        ? "Disconnected: the server refused this room."
        : "Disconnected. Reload the page to reconnect.";
      this.showState("closed", why);
    });
    this.socket = socket;
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return; // Not ours to understand; the protocol only sends JSON.
    }
    if (frame && typeof frame === "object") this.onFrame(frame);
  }

  // Returns whether the frame went out, so the caller can keep unsent text.
  send(frame) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  showState(state, text) {
    this.statusElement.dataset.state = state;
    this.statusElement.textContent = text;
  }
}
