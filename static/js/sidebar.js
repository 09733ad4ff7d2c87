// The sidebar's list of conversations: its date headings kept right as entries move, and one Tab
// stop for the whole list (arrow keys move inside it); the account menu's Escape and closing on
// a click elsewhere. Progressive enhancement: without this file every entry is its own Tab stop,
// the server's headings are right as rendered, and the account menu opens and closes by itself.
(() => {
  "use strict";

  const list = () => document.getElementById("sidebar-list");

  // ---- Headings. The server sends an entry's heading with every entry it puts in the list
  // (a page, a send, a reply's end, a pin...); the list keeps one heading per group, right
  // before the group's first entry, and drops the heading of a group left empty. ----
  function tidyHeadings(ul) {
    const headings = new Map();
    for (const heading of ul.querySelectorAll(":scope > .sidebar-heading")) {
      if (headings.has(heading.dataset.group)) heading.remove();
      else headings.set(heading.dataset.group, heading);
    }
    const used = new Set();
    let current = null;
    for (const entry of ul.querySelectorAll(":scope > .sidebar-item")) {
      const group = entry.dataset.group;
      if (group === current) continue;
      current = group;
      const heading = headings.get(group);
      // (A group met twice, on a page left open past midnight, keeps its first heading.)
      if (!heading || used.has(group)) continue;
      used.add(group);
      if (entry.previousElementSibling !== heading) entry.before(heading);
    }
    for (const [group, heading] of headings) if (!used.has(group)) heading.remove();
  }

  // ---- One Tab stop (a roving tabindex, as WAI-ARIA's composite widgets): the list's rows
  // are its entries (and the archived note, "Show more"); each row's controls are its
  // columns. Up/Down move between rows (headings hold none), Home/End to the first and last,
  // Left/Right between a row's controls. The stop is the control last focused in the list
  // (data-tab-stop="chosen"), else the open conversation's entry (after a new chat's first
  // send too), else the first. ----
  const CONTROLS = "a[href], button, input:not([type=hidden]), select, textarea, summary, [contenteditable]";
  // Controls of a menu or dialog opened from a row are that widget's own, not the row's.
  const POPUP = '[role="menu"], [role="listbox"], [role="dialog"], dialog, [popover]';

  function controlsOf(row) {
    return [...row.querySelectorAll(CONTROLS)].filter((control) => {
      if (control.disabled) return false;
      const popup = control.closest(POPUP);
      if (popup && row.contains(popup)) return false;
      const details = control.closest("details");
      if (details && row.contains(details) && control !== details.querySelector(":scope > summary")) return false;
      return control.checkVisibility ? control.checkVisibility() : control.getClientRects().length > 0;
    });
  }

  function grid(ul) {
    return [...ul.children].map(controlsOf).filter((row) => row.length);
  }

  function isStop(ul, element) {
    return ul.contains(element) && grid(ul).some((row) => row.includes(element));
  }

  function setStop(ul, stop, how = "chosen") {
    for (const row of grid(ul)) {
      for (const control of row) {
        if (control === stop) {
          control.tabIndex = 0;
          control.dataset.tabStop = how;
        } else {
          control.tabIndex = -1;
          delete control.dataset.tabStop;
        }
      }
    }
  }

  function normaliseStop(ul) {
    const controls = grid(ul).flat();
    if (!controls.length) return;
    const chosen = controls.find((control) => control.dataset.tabStop === "chosen");
    const current = ul.querySelector('.sidebar-item a[aria-current="page"]');
    if (chosen) setStop(ul, chosen);
    else setStop(ul, controls.includes(current) ? current : controls[0], "auto");
  }

  const MOVES = {
    ArrowDown: (rows, r, c) => rows[r + 1]?.[Math.min(c, rows[r + 1].length - 1)],
    ArrowUp: (rows, r, c) => rows[r - 1]?.[Math.min(c, rows[r - 1].length - 1)],
    Home: (rows) => rows[0][0],
    End: (rows) => rows.at(-1)[0],
    ArrowRight: (rows, r, c) => rows[r][c + 1],
    ArrowLeft: (rows, r, c) => rows[r][c - 1],
  };

  document.addEventListener("keydown", (event) => {
    const ul = list();
    const move = MOVES[event.key];
    if (!ul || !move || event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    if (!ul.contains(event.target) || event.target.closest("input, textarea, select, [contenteditable]")) return;
    // (An open menu's button leaves its keys to the menu.)
    if (event.target.getAttribute("aria-expanded") === "true") return;
    const rows = grid(ul);
    const r = rows.findIndex((row) => row.includes(event.target));
    if (r < 0) return;
    const next = move(rows, r, rows[r].indexOf(event.target));
    event.preventDefault();
    if (!next) return;
    setStop(ul, next);
    next.focus();
  });

  document.addEventListener("focusin", (event) => {
    const ul = list();
    // (Tab onto the stop chooses nothing; a click, or the focus given back after a swap, does.)
    if (ul && !event.target.dataset?.tabStop && isStop(ul, event.target)) {
      setStop(ul, event.target);
    }
  });

  function watchList() {
    const ul = list();
    if (!ul) return;
    tidyHeadings(ul);
    normaliseStop(ul);
    new MutationObserver(() => {
      tidyHeadings(ul);
      normaliseStop(ul);
    }).observe(ul, { childList: true, subtree: true });
  }

  // ---- The account menu (a <details>): Escape closes it and gives the focus back to its
  // button; a click or the focus elsewhere closes it. ----
  const accountMenu = () => document.getElementById("account-menu");

  document.addEventListener("keydown", (event) => {
    const menu = accountMenu();
    if (event.key !== "Escape" || !menu?.open || !menu.contains(event.target)) return;
    event.stopPropagation(); // (it is not the Escape that stops a reply)
    menu.open = false;
    menu.querySelector("summary").focus();
  }, true);
  document.addEventListener("click", (event) => {
    const menu = accountMenu();
    if (menu?.open && !menu.contains(event.target)) menu.open = false;
  });
  document.addEventListener("focusout", (event) => {
    const menu = accountMenu();
    if (menu?.open && menu.contains(event.target) && event.relatedTarget && !menu.contains(event.relatedTarget)) {
      menu.open = false;
    }
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", watchList);
  else watchList();
})();
