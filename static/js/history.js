// Older messages, loaded as the person scrolls up to the top of the log (or presses "Load older
// messages"): one `history` request at a time, each for the messages before the oldest shown,
// until the server says there are none ("This is the beginning of the room"). What arrives is
// put above without moving what the person is reading.

// Within this many pixels of the top, the log is "at the top": the next page is asked for a
// little before the person gets there.
const NEAR_TOP_PX = 150;
// A request not answered in this long (a reply lost with its socket, say) may go again.
const UNANSWERED_MS = 15000;

export class HistoryLoader {
  // scroller: the log's scrolling box; button and startNote: #chat-history-more and #chat-history-start;
  // oldestId(): the oldest message id shown, or null; request(before): sends the frame, false if it could not.
  constructor({ scroller, button, startNote, oldestId, request }) {
    this.scroller = scroller;
    this.button = button;
    this.startNote = startNote;
    this.oldestId = oldestId;
    this.request = request;
    this.ready = false; // the socket is open and its first frames are in: a request is worth making
    this.pending = null; // the `before` of the request in flight
    this.asked = null; // the `before` whose reply is still welcome (a reply may come after its request was given up)
    this.unanswered = null;
    this.retry = null;
    this.complete = false;
    button.addEventListener("click", () => this.load());
    scroller.addEventListener("scroll", () => this.check(), { passive: true });
  }

  // The socket is open and has sent what it sends first (history, or what was missed): from
  // now on, the top of the log may ask for more.
  start() {
    this.ready = true;
    this.check();
  }

  // The socket closed: a request in flight will never be answered.
  stop() {
    this.ready = false;
    this.asked = null;
    this.settle();
  }

  // Load more if the top of the log is in view (or near it) and nothing is on its way.
  check() {
    if (this.ready && !this.complete && this.pending === null && this.nearTop()) this.load();
  }

  nearTop() {
    return this.scroller.scrollTop <= NEAR_TOP_PX;
  }

  load() {
    if (!this.ready || this.complete || this.pending !== null) return;
    const before = this.oldestId();
    if (before === null) {
      // Nothing shown once the first frames are in: the room has said nothing yet.
      this.finish();
      return;
    }
    const sent = this.request(before);
    if (sent === "later") {
      // The page's rate budget has no room now: ask again in a moment.
      clearTimeout(this.retry);
      this.retry = setTimeout(() => this.check(), 500);
      return;
    }
    if (!sent) return;
    this.pending = before;
    this.asked = before;
    this.button.setAttribute("aria-disabled", "true"); // not disabled: that would take the focus off it
    this.button.textContent = "Loading older messages…";
    this.unanswered = setTimeout(() => this.settle(), UNANSWERED_MS);
  }

  // A refusal that may have been the request's: with `retryAfter` (seconds: it was too soon) it
  // goes again after that long; without (the server does not know the request), not before
  // the next socket.
  failed(retryAfter = null) {
    if (this.pending === null) return;
    this.settle();
    if (Number.isFinite(retryAfter)) {
      this.retry = setTimeout(() => this.check(), Math.min(Math.max(retryAfter, 0.2), 60) * 1000);
    } else {
      this.ready = false;
    }
  }

  settle() {
    clearTimeout(this.unanswered);
    clearTimeout(this.retry);
    this.pending = null;
    this.button.removeAttribute("aria-disabled");
    this.button.textContent = "Load older messages";
  }

  // The server's reply: insert() puts its messages into the log (returning whether it added
  // any); the log is then scrolled by as much as they pushed down what was in view.
  received(frame, insert) {
    if (this.asked === null || frame.before !== this.asked) return;
    this.asked = null;
    this.settle();
    const anchor = this.anchor();
    const anchorTop = anchor?.getBoundingClientRect().bottom;
    insert(Array.isArray(frame.messages) ? frame.messages : []);
    if (frame.complete === true) this.finish(); // the note in place of the button: part of what moved
    if (anchor?.isConnected) this.scroller.scrollTop += anchor.getBoundingClientRect().bottom - anchorTop;
    if (!this.complete) this.check(); // still at the top (a short log): the next page at once
  }

  // A message whose place on screen must not change: the first one in view, by its bottom edge
  // (regrouping may change its top, as when it no longer opens a day).
  anchor() {
    const top = this.scroller.getBoundingClientRect().top;
    const items = this.scroller.querySelectorAll("li[data-id]");
    for (const item of items) if (item.getBoundingClientRect().bottom >= top) return item;
    return items[0] ?? null;
  }

  finish() {
    this.complete = true;
    this.settle();
    const hadFocus = document.activeElement === this.button;
    this.button.hidden = true;
    this.startNote.hidden = false;
    if (hadFocus) this.startNote.focus(); // where the button was, rather than nowhere
  }
}
