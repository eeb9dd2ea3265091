// The wall's live updates over server-sent events, and the connection's state.
//
// "board" carries the whole board (HTML the server escaped with its templates): swapped
// in when the page connects or the board's shape changed. "patch" carries what changed
// since the version the page shows: slots (elements marked data-f) get their attributes
// and text set in place (setAttribute, textContent: nothing is parsed as HTML), the rows
// are reordered by moving their nodes. Frames arriving between two animation frames are
// merged (a newer whole board drops everything older) and applied at once in the next
// one, with DOM writes only: one layout, one paint. A patch made from another version
// than the page's means a frame went missing: the page reconnects and gets the whole board.
// A module file served from the package: no inline script, so a strict CSP holds.

const board = document.getElementById("board");
const conn = document.getElementById("conn");
let source = null;
let lost = false;
let slots = new Map(); // data-f key -> element, of the board shown
let version = null; // the version shown, or that the pending frames lead to
let pending = null; // {html, position, sets: Map(key -> {attrs, text}), order}
let scheduled = false;

function show(state, text) {
  conn.dataset.state = state;
  conn.textContent = text;
}

function indexSlots() {
  slots = new Map();
  for (const el of board.querySelectorAll("[data-f]")) slots.set(el.dataset.f, el);
}

function schedule() {
  if (!scheduled) {
    scheduled = true;
    requestAnimationFrame(paint);
  }
}

function onBoard(frame) {
  pending = { html: frame.html, position: frame.position, sets: new Map(), order: {} };
  version = frame.version;
  schedule();
}

function onPatch(frame) {
  if (frame.base !== version) {
    resync();
    return;
  }
  pending ??= { html: null, position: frame.position, sets: new Map(), order: {} };
  pending.position = frame.position;
  for (const [key, attrs, text] of frame.set) {
    const merged = pending.sets.get(key) ?? { attrs: {}, text: null };
    Object.assign(merged.attrs, attrs ?? {});
    if (text !== null) merged.text = text;
    pending.sets.set(key, merged);
  }
  Object.assign(pending.order, frame.order);
  version = frame.version;
  schedule();
}

function paint() {
  scheduled = false;
  const frame = pending;
  pending = null;
  if (frame === null) return;
  if (frame.html !== null) {
    board.innerHTML = frame.html;
    indexSlots();
  }
  for (const [key, { attrs, text }] of frame.sets) {
    const el = slots.get(key);
    if (el === undefined) {
      resync();
      return;
    }
    for (const [name, value] of Object.entries(attrs)) {
      if (!name.startsWith("on")) el.setAttribute(name, value);
    }
    if (text !== null) el.textContent = text;
  }
  for (const [key, keys] of Object.entries(frame.order)) {
    const parent = slots.get(key);
    keys.forEach((child, i) => {
      const el = slots.get(child);
      if (parent !== undefined && el !== undefined && parent.children[i] !== el) {
        parent.insertBefore(el, parent.children[i] ?? null);
      }
    });
  }
  board.dataset.position = String(frame.position);
  board.dataset.version = version;
}

function resync() {
  pending = null;
  version = null;
  source?.close();
  connect();
}

function connect() {
  source = new EventSource(board.dataset.events);
  const mine = source;
  source.addEventListener("open", () => {
    if (lost) {
      show("back", "● connection back");
      setTimeout(() => { if (conn.dataset.state === "back") show("live", "● live"); }, 3000);
    } else {
      show("live", "● live");
    }
    lost = false;
  });
  source.addEventListener("error", () => {
    lost = true;
    show("lost", "○ connection lost — reconnecting");
    if (mine.readyState === EventSource.CLOSED && mine === source) {
      setTimeout(connect, 2000); // refused (cookie gone, server restarting)
    }
  });
  source.addEventListener("state", (event) => {
    const { state } = JSON.parse(event.data);
    if (lost) return;
    if (state === "offline" || state === "reconnecting") {
      show("stale", "◐ figures may be late: the service's change notices are down");
    } else {
      show("live", "● live");
    }
  });
  source.addEventListener("board", (event) => onBoard(JSON.parse(event.data)));
  source.addEventListener("patch", (event) => onPatch(JSON.parse(event.data)));
}

indexSlots();
connect();
