// Messages typed but not yet acknowledged. They are kept in the browser's
// storage, per room, until the server says it stored them, so a reload loses
// none; and they go out one at a time, in order, no faster than the server's
// rate limit allows. A message refused for the rate goes again once the wait
// the server named is over, before any later one. Resending is safe: the
// server stores a client id once per room and acknowledges every resend.

const STORAGE_PREFIX = "chat-outbox:";
const NOT_SAVED_RETRY_S = 2; // the server could not store it: try again after this long
const LONGEST_WAIT_S = 60;
// A message sent and neither acknowledged nor refused this long after goes again (safe: see above).
const UNANSWERED_S = 10;

// The server's token bucket (chat/limits.py), mirrored: frames a second on
// average and at once. The page's bucket starts when its socket opens, after
// the server's, so it never believes in a token the server doesn't have.
export class TokenBucket {
  constructor(rate, burst, clock = () => performance.now() / 1000) {
    this.rate = rate > 0 ? rate : 0;
    this.burst = Math.max(burst || 0, 1);
    this.clock = clock;
    this.tokens = this.burst;
    this.updated = clock();
  }

  refill() {
    const now = this.clock();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.updated) * this.rate);
    this.updated = now;
  }

  // Seconds until a frame may go (0: now).
  wait() {
    if (this.rate === 0) return 0;
    this.refill();
    return this.tokens >= 1 ? 0 : (1 - this.tokens) / this.rate;
  }

  take() {
    if (this.wait() > 0) return false;
    if (this.rate > 0) this.tokens -= 1;
    return true;
  }
}

// localStorage, or nothing where the browser refuses it (storage switched off,
// some private modes): the outbox then lives as long as the page.
function browserStorage() {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

export class Outbox {
  // send(entry) returns whether the frame went out; rate and burst are the server's limit.
  constructor({ room, send, rate = 0, burst = 1, storage = browserStorage() }) {
    this.key = STORAGE_PREFIX + room;
    this.send = send;
    this.rate = rate;
    this.burst = burst;
    this.storage = storage;
    this.bucket = new TokenBucket(rate, burst);
    this.entries = this.stored(); // { clientId, message, created }, oldest first
    this.inFlight = null; // the client id sent and not yet answered
    this.holdUntil = 0; // performance.now() before which nothing is sent
    this.timer = null; // pump() again when the wait is over
    this.unanswered = null; // give up waiting for the answer about inFlight
  }

  get size() {
    return this.entries.length;
  }

  // A new message: kept, then sent in its turn. Returns its entry.
  add(message) {
    const entry = { clientId: newClientId(), message, created: new Date().toISOString() };
    this.entries.push(entry);
    // Read back and written whole: another tab of the room may have changed the list meanwhile.
    this.store([...this.stored(), entry]);
    this.pump();
    return entry;
  }

  // The server stored it: forget it, and send the next. Returns its entry, if this page had it.
  acknowledge(clientId) {
    const entry = this.forget(clientId);
    if (this.inFlight === clientId) this.landed();
    this.pump();
    return entry;
  }

  // An error frame naming one of ours. Returns "retry" when the message goes
  // again by itself, or "dropped" when the server will never store it.
  refused(frame) {
    const again = frame.code === "rate_limited" || frame.code === "not_saved";
    if (again) this.hold(frame.retry_after);
    if (this.inFlight === frame.client_id) this.landed();
    if (!again) this.forget(frame.client_id);
    this.pump();
    return again ? "retry" : "dropped";
  }

  // Nothing at all goes out for this long (the server asked us to wait).
  hold(seconds) {
    const wait = Number.isFinite(seconds) ? Math.min(Math.max(seconds, 0), LONGEST_WAIT_S) : NOT_SAVED_RETRY_S;
    const until = performance.now() + wait * 1000;
    this.holdUntil = Math.max(this.holdUntil, until);
  }

  // A socket (re)opened: what was in flight on the old one goes again, with a fresh bucket.
  connected() {
    this.landed();
    this.bucket = new TokenBucket(this.rate, this.burst);
    this.pump();
  }

  // A frame other than a message (typing, delete) spends from the same bucket;
  // false: the limit has no room for it now.
  spend() {
    return this.bucket.take();
  }

  // Send the oldest message if nothing is in flight and the limit allows; else come back when it does.
  pump() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.inFlight !== null || this.entries.length === 0) return;
    const waitMs = Math.max(this.holdUntil - performance.now(), this.bucket.wait() * 1000);
    if (waitMs > 0) {
      this.timer = setTimeout(() => this.pump(), Math.ceil(waitMs));
      return;
    }
    const entry = this.entries[0];
    if (!this.send(entry)) return; // not connected: connected() sends it
    this.bucket.take();
    this.inFlight = entry.clientId;
    this.unanswered = setTimeout(() => {
      this.landed();
      this.pump();
    }, UNANSWERED_S * 1000);
  }

  // The message in flight is answered (or given up on): the next may go.
  landed() {
    clearTimeout(this.unanswered);
    this.inFlight = null;
  }

  forget(clientId) {
    const entry = this.entries.find((each) => each.clientId === clientId) ?? null;
    this.entries = this.entries.filter((each) => each.clientId !== clientId);
    this.store(this.stored().filter((each) => each.clientId !== clientId));
    return entry;
  }

  stored() {
    try {
      const entries = JSON.parse(this.storage?.getItem(this.key) ?? "[]");
      return Array.isArray(entries) ? entries.filter(isEntry) : [];
    } catch {
      return [];
    }
  }

  store(entries) {
    try {
      if (entries.length) this.storage?.setItem(this.key, JSON.stringify(entries));
      else this.storage?.removeItem(this.key);
    } catch {
      // Full or refused: the messages are still in this page's memory.
    }
  }
}

function isEntry(entry) {
  return (
    entry !== null &&
    typeof entry === "object" &&
    typeof entry.clientId === "string" &&
    typeof entry.message === "string" &&
    typeof entry.created === "string"
  );
}

function newClientId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
