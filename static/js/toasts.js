// Mention toasts on the room page: short notes about other rooms that go by themselves.
//
// Anyone may write @name as often as the rate limit lets them, from as many rooms as
// they like, so whatever arrives costs the page at most MAX_TOASTS small notes:
// - one toast per room: a repeat updates that room's toast and its count;
// - a new room's toast takes the place of the one updated longest ago;
// - each shows a preview of the message, never the whole of it;
// - each goes after TOAST_SHOWN_MS (paused while the pointer or focus is on it), or on a click.
// The stack keeps to the top half of the window (chat.css), clear of the message box and
// the Send button below it, and sheds its oldest toasts rather than outgrow that.
// Names, rooms and messages are only ever set with textContent.

export const MAX_TOASTS = 3;
export const TOAST_SHOWN_MS = 6000;
export const PREVIEW_CHARACTERS = 80;

// `text` with its runs of white space folded, cut to `length` characters with "…".
// Characters are code points, so an emoji is never cut in half.
export function preview(text, length = PREVIEW_CHARACTERS) {
  const characters = Array.from(String(text).replace(/\s+/g, " ").trim());
  return characters.length <= length ? characters.join("") : `${characters.slice(0, length - 1).join("")}…`;
}

export function mentionText({ room, author, message }, count) {
  const said = preview(message);
  return count === 1
    ? `${author} mentioned you in ${room}: ${said}`
    : `${count} mentions in ${room}, the latest from ${author}: ${said}`;
}

export class MentionToasts {
  constructor(container, { limit = MAX_TOASTS, shownMs = TOAST_SHOWN_MS } = {}) {
    this.container = container;
    this.limit = limit;
    this.shownMs = shownMs;
    // Room name -> its toast; a Map keeps insertion order, and a toast is put back at
    // the end on each update, so the first one is the one updated longest ago.
    this.toasts = new Map();
  }

  get size() {
    return this.toasts.size;
  }

  show(frame) {
    let toast = this.toasts.get(frame.room);
    if (toast) {
      this.toasts.delete(frame.room);
    } else {
      while (this.toasts.size >= this.limit) this.dismiss(this.toasts.keys().next().value);
      toast = this.create(frame.room);
    }
    this.toasts.set(frame.room, toast);
    toast.count += 1;
    toast.element.dataset.count = String(toast.count);
    toast.text.textContent = mentionText(frame, toast.count);
    this.restartTimer(toast);
    this.fit();
  }

  dismiss(room) {
    const toast = this.toasts.get(room);
    if (!toast) return;
    clearTimeout(toast.timer);
    toast.element.remove();
    this.toasts.delete(room);
  }

  create(room) {
    const element = document.createElement("div");
    element.className = "toast";
    element.dataset.room = room;
    const text = document.createElement("p");
    const link = document.createElement("a");
    link.href = `/chat/${encodeURIComponent(room)}/`;
    link.textContent = `Go to ${room}`;
    const close = document.createElement("button");
    close.type = "button";
    close.textContent = "Dismiss";
    const actions = document.createElement("div");
    actions.className = "toast-actions";
    actions.append(link, " ", close);
    element.append(text, actions);

    const toast = { element, text, count: 0, timer: undefined, held: new Set() };
    // A click anywhere on it but its link (which leads to the room) puts it away.
    element.addEventListener("click", (event) => {
      if (!event.target.closest("a")) this.dismiss(room);
    });
    // Not gone while someone is reading it or about to click it.
    const hold = (reason) => () => {
      toast.held.add(reason);
      clearTimeout(toast.timer);
    };
    const release = (reason) => () => {
      toast.held.delete(reason);
      this.restartTimer(toast);
    };
    element.addEventListener("pointerenter", hold("pointer"));
    element.addEventListener("pointerleave", release("pointer"));
    element.addEventListener("focusin", hold("focus"));
    element.addEventListener("focusout", (event) => {
      if (!element.contains(event.relatedTarget)) release("focus")();
    });
    this.container.append(element);
    return toast;
  }

  restartTimer(toast) {
    clearTimeout(toast.timer);
    if (toast.held.size > 0 || !toast.element.isConnected) return;
    const room = toast.element.dataset.room;
    toast.timer = setTimeout(() => this.dismiss(room), this.shownMs);
  }

  // The stack's height is bounded (chat.css); where larger text makes the toasts
  // taller than that, the oldest go, so the ones left are shown whole.
  fit() {
    while (this.toasts.size > 1 && this.container.scrollHeight > this.container.clientHeight + 1) {
      this.dismiss(this.toasts.keys().next().value);
    }
  }
}
