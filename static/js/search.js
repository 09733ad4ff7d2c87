// Search where you are: typing in the sidebar's search box shows the matching conversations
// in the sidebar, in place of the list, while the box has text (htmx asks /search/live/ once
// typing pauses, see chat.html). The list is only hidden, never removed, so its live updates
// go on. Emptying the box, or Escape, brings the list back; Enter still opens the full results
// page (a plain form submit, as without JavaScript). Keyboard: Down from the box goes into the
// results, Up and Down move between them, Up from the first goes back to the box.
(() => {
  "use strict";

  const box = () => document.getElementById("search-box");
  const panel = () => document.getElementById("search-live");
  const results = () => document.getElementById("search-live-results");
  const status = () => document.getElementById("search-live-status");
  const links = () => [...(panel()?.querySelectorAll("a[href]") ?? [])];

  function setSearching(on) {
    const live = panel();
    if (!live) return;
    live.hidden = !on;
    box().closest(".sidebar")?.toggleAttribute("data-searching", on);
    if (!on) {
      results().replaceChildren();
      status().textContent = "";
    }
  }

  function close() {
    const input = box();
    input.value = "";
    window.htmx?.trigger(input, "htmx:abort"); // an answer still on its way is not wanted any more
    setSearching(false);
    input.focus();
  }

  document.addEventListener("input", (event) => {
    if (event.target === box() && panel()) setSearching(event.target.value.trim() !== "");
  });

  // An answer that arrives after the box was emptied is dropped with the rest; and a result
  // that had the focus when new ones replaced it hands it back to the box.
  document.addEventListener("htmx:after:swap", () => {
    const input = box();
    if (!input || !panel()) return;
    if (!input.value.trim() && (results().firstChild || status().textContent)) setSearching(false);
    if (document.activeElement === document.body && focusWasInResults) input.focus();
  });
  let focusWasInResults = false;
  document.addEventListener("focusin", (event) => {
    focusWasInResults = Boolean(panel()?.contains(event.target));
  });

  // In the capture phase, so that Escape here is not also chat.js's "stop the reply".
  document.addEventListener("keydown", (event) => {
    const input = box(), live = panel();
    if (!input || !live || live.hidden || event.isComposing) return;
    const inBox = event.target === input;
    const inResults = live.contains(event.target);
    if (!inBox && !inResults) return;
    if (event.key === "Escape") {
      // Here Escape closes the search (it does not also stop a reply being written).
      event.preventDefault();
      event.stopPropagation();
      close();
      return;
    }
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    const all = links();
    if (!all.length) return;
    const index = all.indexOf(event.target);
    if (inBox) {
      if (event.key !== "ArrowDown") return;
      event.preventDefault();
      all[0].focus();
    } else if (index >= 0) {
      event.preventDefault();
      if (event.key === "ArrowDown") all[Math.min(index + 1, all.length - 1)].focus();
      else if (index === 0) input.focus();
      else all[index - 1].focus();
    }
  }, true);
})();
