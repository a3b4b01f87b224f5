// A page's WebSocket: opens it, shows its state in #connection-status, and
// reconnects by itself with exponential backoff and jitter when it drops.

const CLOSE_NOT_FOUND = 4404;
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 10000;

export function socketUrl(path, location = window.location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

export function roomSocketUrl(roomName, after) {
  const query = after > 0 ? `?after=${after}` : "";
  return socketUrl(`/ws/chat/${encodeURIComponent(roomName)}/${query}`);
}

// The wait before reconnect attempt number `attempt` (0, 1, 2, ...): doubling
// up to the cap, then a random part of it, so a restarted server isn't hit by
// every client in the same instant.
// --8<-- [start:reconnect-delay]
export function reconnectDelay(attempt, random = Math.random) {
  const ceiling = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** attempt);
  return ceiling / 2 + random() * (ceiling / 2);
}
// --8<-- [end:reconnect-delay]

export class RoomConnection {
  // url() is asked on every (re)connect, so a room page can say which messages
  // it already holds (?after=); onOpen runs on every (re)connect too.
  constructor({ url, statusElement, retryButton, onFrame, onOpen = () => {} }) {
    this.url = url;
    this.statusElement = statusElement;
    this.retryButton = retryButton;
    this.onFrame = onFrame;
    this.onOpen = onOpen;
    this.socket = null;
    this.attempt = 0;
    this.timers = [];
    retryButton.addEventListener("click", () => this.open());
    window.addEventListener("online", () => this.socket === null && this.open());
    // Leaving the page closes the socket at once, so the room sees the person go
    // (a page kept in the back/forward cache would otherwise hold it open), and
    // coming back to the page from that cache opens it again.
    window.addEventListener("pagehide", () => this.shut());
    window.addEventListener("pageshow", (event) => event.persisted && this.open());
  }

  shut() {
    this.clearTimers();
    const socket = this.socket;
    this.socket = null; // its close event is then not a reason to reconnect
    socket?.close(1000, "page hidden");
  }

  open() {
    this.clearTimers();
    this.retryButton.hidden = true;
    this.showState("connecting", "Connecting…");
    const socket = new WebSocket(this.url());
    socket.addEventListener("open", () => {
      this.attempt = 0;
      this.showState("open", "Connected");
      this.onOpen();
    });
    socket.addEventListener("message", (event) => this.receive(event.data));
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (event.code === CLOSE_NOT_FOUND) {
        this.showState("closed", "Disconnected: the server refused this page's connection.");
      } else {
        this.scheduleReconnect();
      }
    });
    this.socket = socket;
  }

  scheduleReconnect() {
    const due = Date.now() + reconnectDelay(this.attempt);
    this.attempt += 1;
    const countdown = () => {
      const seconds = Math.max(1, Math.ceil((due - Date.now()) / 1000));
      this.showState("closed", `Disconnected. Reconnecting in ${seconds} s…`);
    };
    countdown();
    this.retryButton.hidden = false;
    this.timers.push(setInterval(countdown, 1000), setTimeout(() => this.open(), due - Date.now()));
  }

  clearTimers() {
    for (const timer of this.timers) clearTimeout(timer); // clearTimeout clears intervals too
    this.timers = [];
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

  // Returns whether the frame went out; while disconnected it did not.
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
