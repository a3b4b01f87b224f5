// A page's WebSocket: opens it, shows its state in #connection-status, and
// reconnects by itself with exponential backoff and jitter when it drops, or
// when a heartbeat finds it silent: a network that stops passing packets closes
// nothing, and browsers expose no WebSocket ping to JavaScript.

const CLOSE_NOT_FOUND = 4404;
// This person may not open the room (a private room they are not, or no longer, a member of):
// coming back would be refused again, so the page says so and stays closed.
const CLOSE_FORBIDDEN = 4403;
// A guest's name is someone else's: reconnecting under it will not help, choosing another in the lobby will.
const CLOSE_NAME_TAKEN = 4409;
// Closed for breaking the socket's rules (sending too much): whatever made this page do it, it
// comes back at the slowest pace of the backoff, not at once.
const CLOSE_POLICY_VIOLATION = 4008;
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 10000;
const SLOWEST_ATTEMPT = Math.ceil(Math.log2(MAX_DELAY_MS / FIRST_DELAY_MS));
// The longest wait the page takes from the server's retry_after.
const LONGEST_WAIT_MS = 60000;
const PING = JSON.stringify({ type: "ping" });

// What the server tells the page's socket code, from the page's #socket-settings
// (json_script): heartbeat seconds, and on room pages the rate limit.
export function socketSettings(document = window.document) {
  const element = document.getElementById("socket-settings");
  return element ? JSON.parse(element.textContent) : {};
}

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
  // Every heartbeatSeconds (0: never) the open socket is pinged, and one that
  // has heard nothing since the previous beat (not even its opening) is taken
  // for dead: so within two heartbeats of falling silent, or of starting to
  // open without getting there. The status element and the retry button are
  // optional: the bell's socket (bell.js) has a status line of its own in its
  // panel, and no retry button: it reconnects by itself. onState(state) hears
  // each change of state ("connecting", "open", "closed"), whatever shows it:
  // while the socket is not open, the page hears nothing of what changes.
  constructor({
    url,
    statusElement = null,
    retryButton = null,
    onFrame,
    onOpen = () => {},
    onGone = () => {},
    onState = () => {},
    heartbeatSeconds = 0,
  }) {
    this.url = url;
    this.statusElement = statusElement;
    this.retryButton = retryButton;
    this.onFrame = onFrame;
    this.onOpen = onOpen;
    this.onGone = onGone; // the server closed for good (4404, 4403, 4409): no reconnect will follow
    this.onState = onState;
    this.heartbeatMs = heartbeatSeconds > 0 ? heartbeatSeconds * 1000 : 0;
    this.socket = null;
    this.heard = false; // the socket opened or received something since the last beat
    this.attempt = 0;
    this.notBefore = 0; // Date.now() before which no reconnect goes: the server said how long to wait
    this.stopped = false; // see stop()
    this.timers = [];
    retryButton?.addEventListener("click", () => this.open());
    // The network is back: a socket still trying (maybe on the old network) starts afresh now.
    window.addEventListener("online", () => this.socket?.readyState !== WebSocket.OPEN && this.open());
    // Leaving the page closes the socket at once, so the room sees the person go
    // (a page kept in the back/forward cache would otherwise hold it open), and
    // coming back to the page from that cache opens it again.
    window.addEventListener("pagehide", () => this.shut());
    window.addEventListener("pageshow", (event) => event.persisted && this.open());
  }

  shut() {
    this.discard(1000, "page hidden");
  }

  // Closed for good: nothing opens the socket again, not the network or the page coming back.
  stop() {
    this.stopped = true;
    this.discard(1000, "stopped");
  }

  // Forget the socket, closing it: its close event (whenever the browser gets
  // to it) is then not a reason to reconnect.
  discard(code, reason) {
    this.clearTimers();
    const socket = this.socket;
    this.socket = null;
    socket?.close(code, reason);
  }

  open() {
    if (this.stopped) return;
    this.discard();
    this.showRetry(false);
    this.showState("connecting", "Connecting…");
    const socket = new WebSocket(this.url());
    socket.addEventListener("open", () => {
      if (this.socket !== socket) return;
      this.attempt = 0;
      this.heard = true;
      this.showState("open", "Connected");
      this.onOpen();
    });
    socket.addEventListener("message", (event) => {
      if (this.socket !== socket) return;
      this.heard = true;
      this.receive(event.data);
    });
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.clearTimers();
      if (event.code === CLOSE_NOT_FOUND) {
        this.showState("closed", "Disconnected: the server refused this page's connection.");
        this.onGone();
      } else if (event.code === CLOSE_FORBIDDEN) {
        this.showState("closed", "Disconnected: this room is for its members only.");
        this.onGone();
      } else if (event.code === CLOSE_NAME_TAKEN) {
        this.showState("closed", "Disconnected: your name is taken. Choose another in the lobby.");
        this.onGone();
      } else {
        if (event.code === CLOSE_POLICY_VIOLATION) this.attempt = Math.max(this.attempt, SLOWEST_ATTEMPT);
        this.scheduleReconnect();
      }
    });
    this.socket = socket;
    this.heard = true; // a first beat's grace, for the opening handshake
    if (this.heartbeatMs) this.timers.push(setInterval(() => this.beat(socket), this.heartbeatMs));
  }

  // Once a heartbeat: a socket that heard something since the previous beat
  // (any frame will do, the pong to the last ping or the opening) is pinged
  // if open; one that did not is given up, and reconnects as after a drop.
  // Only what arrives counts, never what is sent, so a connection that
  // carries nothing back is never taken for alive.
  beat(socket) {
    if (this.socket !== socket) return;
    if (this.heard) {
      this.heard = false;
      if (socket.readyState === WebSocket.OPEN) socket.send(PING);
    } else {
      this.discard();
      this.scheduleReconnect();
    }
  }

  scheduleReconnect() {
    // Not before the wait the server named (too many sockets opened from this address lately), if it named one.
    const due = Math.max(Date.now() + reconnectDelay(this.attempt), this.notBefore);
    this.attempt += 1;
    const countdown = () => {
      const seconds = Math.max(1, Math.ceil((due - Date.now()) / 1000));
      this.showState("closed", `Disconnected. Reconnecting in ${seconds} s…`);
    };
    countdown();
    this.showRetry(true);
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
    const waitsToConnect = frame?.code === "too_many_handshakes" || frame?.code === "flooding";
    if (frame?.type === "error" && waitsToConnect && Number.isFinite(frame.retry_after)) {
      this.notBefore = Date.now() + Math.min(Math.max(frame.retry_after * 1000, 0), LONGEST_WAIT_MS);
    }
    if (frame && typeof frame === "object" && frame.type !== "pong") this.onFrame(frame);
  }

  // Returns whether the frame went out; while disconnected it did not.
  send(frame) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  showRetry(shown) {
    if (this.retryButton) this.retryButton.hidden = !shown;
  }

  showState(state, text) {
    if (this.statusElement) {
      this.statusElement.dataset.state = state;
      this.statusElement.textContent = text;
    }
    this.onState(state);
  }
}
