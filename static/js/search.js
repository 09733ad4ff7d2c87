// Search where you are: typing in the sidebar's search box shows the matching conversations
// in the sidebar, in place of the list, while the box has text (htmx asks /search/live/ once
// typing pauses, see chat.html; the count goes to the polite status under the box). The list
// is only hidden, never removed, so its live updates go on; it stays until the first results
// arrive. Emptying the box, or Escape, brings it back; Enter still opens the full results page
// (a plain form submit, as without JavaScript). Keyboard: Down from the box goes into the
// results, Up and Down move between them, Up from the first goes back to the box.
(() => {
  "use strict";

  const box = () => document.getElementById("search-box");
  const panel = () => document.getElementById("search-live");
  const status = () => document.getElementById("search-live-status");
  const links = () => [...(panel()?.querySelectorAll("a[href]") ?? [])];
  const typed = () => box().value.trim() !== "";

  function setSearching(on) {
    const live = panel();
    live.hidden = !on;
    box().closest(".sidebar")?.toggleAttribute("data-searching", on);
    if (!on) {
      live.replaceChildren();
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
    if (event.target === box() && panel() && !typed()) setSearching(false);
  });

  // Results arrived: shown while the box has text (an answer that arrives after the box was
  // emptied is dropped). A result that had the focus when new ones replaced it hands it back
  // to the box.
  let focusWasInResults = false;
  document.addEventListener("focusin", (event) => {
    focusWasInResults = Boolean(panel()?.contains(event.target));
  });
  document.addEventListener("htmx:after:swap", () => {
    const live = panel();
    if (!live || !box()) return;
    const answered = live.firstElementChild !== null || status().textContent !== "";
    if (answered) setSearching(typed());
    if (focusWasInResults && document.activeElement === document.body) box().focus();
  });

  // In the capture phase, so that Escape here is not also chat.js's "stop the reply".
  document.addEventListener("keydown", (event) => {
    const input = box(), live = panel();
    if (!input || !live || event.isComposing) return;
    const inBox = event.target === input;
    const inResults = live.contains(event.target);
    if (!inBox && !inResults) return;
    if (event.key === "Escape" && (typed() || !live.hidden)) {
      event.preventDefault();
      event.stopPropagation();
      close();
      return;
    }
    if (live.hidden || (event.key !== "ArrowDown" && event.key !== "ArrowUp")) return;
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
