// The message box: several lines (Enter sends, Shift+Enter starts a new line), growing with its
// text up to a few lines, then scrolling; near the length limit a counter says how much is
// left, and past it the message is refused whole rather than cut: the text stays to be shortened.

// The counter shows once this share of the limit is used.
const COUNTER_FROM = 0.9;

// A message's length as the server counts it (chat/protocol.py: Python's len, in code points).
// A JavaScript string's length counts UTF-16 units, two for an emoji (a surrogate pair): each pair
// counts once. Counted in place, on every key press: spreading a pasted megabyte into an array
// of characters each time would make typing lag.
export function messageLength(text) {
  let length = text.length;
  for (let index = 0; index < text.length - 1; index += 1) {
    const unit = text.charCodeAt(index);
    const next = text.charCodeAt(index + 1);
    if (unit >= 0xd800 && unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      length -= 1;
      index += 1;
    }
  }
  return length;
}

// Whether an Enter key press means "send": not with Shift (a new line), not with a modifier,
// and not while an input method is composing (Enter there picks the candidate).
function sendsOnEnter(event) {
  if (event.key !== "Enter" || event.isComposing || event.keyCode === 229) return false;
  return !(event.shiftKey || event.altKey || event.ctrlKey || event.metaKey);
}

// Let a textarea grow with its text; its style sheet's max-height stops it, and it scrolls beyond.
export function growWithText(textarea) {
  const fit = () => {
    textarea.style.height = "auto";
    const borders = textarea.offsetHeight - textarea.clientHeight;
    textarea.style.height = `${textarea.scrollHeight + borders}px`;
  };
  textarea.addEventListener("input", fit);
  fit();
  return fit;
}

// What to say about a text of `length` against `limit`, or null when it is far from it.
export function lengthNote(length, limit) {
  if (!(limit > 0) || length < limit * COUNTER_FROM) return null;
  const left = limit - length;
  if (left >= 0) return { over: false, text: `${left} character${left === 1 ? "" : "s"} left` };
  return { over: true, text: `${-left} character${left === -1 ? "" : "s"} too many` };
}

// Enter (without Shift) in `textarea` calls `send()`, as a form's submit would.
export function enterSends(textarea, send) {
  textarea.addEventListener("keydown", (event) => {
    if (!sendsOnEnter(event)) return;
    event.preventDefault();
    send();
  });
}

export class Composer {
  // onSend(text) is given a text within the limit; onTooLong(message) says why one is refused,
  // and onFits() is called once a refused text has been mended to fit.
  constructor({ form, input, counter, limit, onSend, onTooLong, onFits = () => {} }) {
    this.form = form;
    this.input = input;
    this.counter = counter;
    this.limit = limit;
    this.onSend = onSend;
    this.onTooLong = onTooLong;
    this.onFits = onFits;
    this.refusedTooLong = false;
    this.fit = growWithText(input);
    enterSends(input, () => form.requestSubmit());
    input.addEventListener("input", () => this.showCount());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.showCount();
  }

  get value() {
    return this.input.value;
  }

  // Put `text` in the box (emptied with ""), sized and counted.
  set value(text) {
    this.input.value = text;
    this.fit();
    this.showCount();
  }

  submit() {
    const text = this.input.value;
    if (!text.trim()) return;
    const refusal = tooLong(text, this.limit);
    if (refusal) {
      this.refusedTooLong = true;
      this.onTooLong(refusal);
      this.input.focus();
      return;
    }
    this.onSend(text);
  }

  showCount() {
    const note = lengthNote(messageLength(this.input.value), this.limit);
    this.counter.hidden = note === null;
    this.counter.textContent = note?.text ?? "";
    this.counter.dataset.state = note?.over ? "over" : "near";
    if (note?.over) this.input.setAttribute("aria-invalid", "true");
    else this.input.removeAttribute("aria-invalid");
    if (this.refusedTooLong && !note?.over) {
      this.refusedTooLong = false;
      this.onFits();
    }
  }
}

// Why `text` may not be sent for its length, or null if it may.
export function tooLong(text, limit) {
  const length = messageLength(text);
  if (!(limit > 0) || length <= limit) return null;
  return (
    `Not sent: the message is ${length} characters long, ${length - limit} over the limit of ${limit}. ` +
    "Shorten it, or send it in parts."
  );
}
