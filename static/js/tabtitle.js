// The tab's title, with "(N) " in front while the tab is hidden and something is new for the
// person: each part of the page (the room's log, the bell) reports its own count by name, and
// the title shows their sum. Shown again, the tab drops the prefix.

const baseTitle = document.title;
const counts = new Map();

function render() {
  const total = [...counts.values()].reduce((sum, count) => sum + count, 0);
  document.title = document.hidden && total > 0 ? `(${total}) ${baseTitle}` : baseTitle;
}

// `source` names the part of the page ("room", "bell"); `count` is how much of its news is unread.
export function setUnread(source, count) {
  counts.set(source, Math.max(0, Number(count) || 0));
  render();
}

document.addEventListener("visibilitychange", render);
