// The page's layout helpers: the folding list of conversations on phones, the open
// conversation's entry in view, one spoken sentence when a reply ends, and focus that never
// falls to nowhere. Progressive enhancement: without this file the list sits above the chat
// and everything still works.
(() => {
  "use strict";

  // ---- The list of conversations folds away on narrow screens (same width as app.css). ----
  const narrow = window.matchMedia("(max-width: 760px)");
  const root = document.documentElement;
  const sidebar = () => document.querySelector("nav.sidebar");
  const toggles = () => document.querySelectorAll("[data-sidebar-toggle]");
  const sidebarOpen = () => root.classList.contains("sidebar-open");

  function setSidebar(open, { returnFocus = false } = {}) {
    const nav = sidebar();
    if (!nav) return;
    root.classList.toggle("sidebar-open", open);
    nav.id ||= "sidebar";
    for (const button of toggles()) {
      button.setAttribute("aria-expanded", String(open));
      button.setAttribute("aria-controls", nav.id);
    }
    const backdrop = document.querySelector("[data-sidebar-close]");
    if (backdrop) backdrop.hidden = !open;
    // While the list covers the chat, the chat can be neither read nor reached by Tab.
    const main = document.getElementById("main");
    if (main) main.inert = open;
    if (open) nav.querySelector("a[href], button, input, select, textarea")?.focus();
    else if (returnFocus) toggles()[0]?.focus();
  }

  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-sidebar-toggle]")) setSidebar(!sidebarOpen());
    else if (event.target.closest("[data-sidebar-close]")) setSidebar(false, { returnFocus: true });
  });
  // Escape closes the list first (before chat.js's Escape, which stops a reply).
  window.addEventListener(
    "keydown",
    (event) => {
      if (event.key !== "Escape" || !sidebarOpen()) return;
      // (An open menu, or a title being renamed, takes its own Escape first: menus.js and sidebar.js.)
      if (event.target.closest?.(".account-menu[open], .menu:popover-open, .rename-form")) return;
      event.stopImmediatePropagation();
      setSidebar(false, { returnFocus: true });
    },
    true,
  );
  narrow.addEventListener("change", () => { if (sidebarOpen()) setSidebar(false); });

  // ---- One polite sentence per finished reply ("Reply finished." or its error). ----
  const busy = new Set(); // ids of replies seen being written
  let announceTimer;

  function announce(text) {
    const region = document.getElementById("announcer");
    if (!region || !text) return;
    // Emptied first, so the same sentence twice in a row is spoken twice.
    region.textContent = "";
    clearTimeout(announceTimer);
    announceTimer = setTimeout(() => { region.textContent = text; }, 100);
  }

  function endingSentence(article) {
    const error = article.querySelector(".reply-error");
    const region = document.getElementById("announcer");
    if (error) {
      const sentence = error.cloneNode(true);
      sentence.querySelector(".reference")?.remove();
      return sentence.textContent.trim();
    }
    if (article.classList.contains("status-cancelled")) return region?.dataset.stopped;
    return region?.dataset.finished;
  }

  function noticeEndedReplies() {
    for (const article of document.querySelectorAll("article.reply[id]")) {
      if (article.getAttribute("aria-busy") === "true") busy.add(article.id);
      else if (busy.delete(article.id)) announce(endingSentence(article));
    }
  }

  // ---- Focus: when the focused control is swapped away (Stop, Retry, a refreshed list), its
  // new copy (same id) takes focus back, or else the message box, never the page's body. ----
  // Tabbing onto "Show more conversations" brings it into view, which loads the next entries
  // in its place: the focus then goes to the first of them (the entry before it is noted).
  let lastFocused = null, beforeMore = null;
  document.addEventListener("focusin", (event) => {
    lastFocused = event.target;
    beforeMore = event.target.closest(".sidebar-more")?.previousElementSibling ?? null;
  });

  function firstLoadedEntry(lost) {
    if (!lost.closest(".sidebar-more") || !beforeMore?.isConnected) return null;
    let next = beforeMore.nextElementSibling;
    while (next && !next.matches(".sidebar-item")) next = next.nextElementSibling; // (headings)
    return next?.querySelector("a[href]") ?? null;
  }

  function rescueFocus() {
    const active = document.activeElement;
    if (active && active !== document.body) return;
    if (!lastFocused || lastFocused.isConnected) return;
    const lost = lastFocused;
    lastFocused = null;
    const twin = (lost.id && document.getElementById(lost.id)) || firstLoadedEntry(lost);
    if (twin) twin.focus({ preventScroll: true });
    else if (sidebarOpen()) sidebar()?.querySelector("a[href], button, input")?.focus();
    else document.getElementById("message")?.focus({ preventScroll: true });
  }

  const observer = new MutationObserver(() => {
    noticeEndedReplies();
    setTimeout(rescueFocus, 50); // after htmx has put focus back on a same-id control
  });
  // ---- The open conversation's entry is in view in the list (it may be far down when the
  // conversation was opened from Search); only the list scrolls, never the page. ----
  function showOpenEntry() {
    const list = document.querySelector(".sidebar-list");
    const entry = list?.querySelector('a[aria-current="page"]');
    if (!entry) return;
    const box = list.getBoundingClientRect(), place = entry.getBoundingClientRect();
    if (place.top >= box.top && place.bottom <= box.bottom) return;
    list.scrollTop += place.top - box.top - (list.clientHeight - place.height) / 2;
  }

  function start() {
    showOpenEntry();
    noticeEndedReplies();
    observer.observe(document.body, { subtree: true, childList: true, attributeFilter: ["aria-busy"] });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
