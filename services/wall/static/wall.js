// The wall's live updates: server-sent events carry the re-rendered board (HTML the
// server escaped with its templates); this swaps it in and shows the connection's state.
// A module file served from the package: no inline script, so a strict CSP holds.

const board = document.getElementById("board");
const conn = document.getElementById("conn");
let lost = false;

function show(state, text) {
  conn.dataset.state = state;
  conn.textContent = text;
}

function connect() {
  const source = new EventSource(board.dataset.events);
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
    if (source.readyState === EventSource.CLOSED) {  // refused (cookie gone, server restarting)
      setTimeout(connect, 2000);
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
  source.addEventListener("board", (event) => {
    const { position, html } = JSON.parse(event.data);
    board.innerHTML = html;
    board.dataset.position = String(position);
    requestAnimationFrame(() => performance.mark(`wall-painted-${position}`));
  });
}

connect();
