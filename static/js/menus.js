// The conversations' "More" menus (in the sidebar and the header), renaming in place, the
// delete dialog and the notices with Undo. Progressive enhancement: without this file the
// menus still open (they are popovers), Rename opens the title as a box on the conversation's
// page, Delete opens the confirmation page, and the notices simply stay.
(() => {
  "use strict";

  const ITEMS = '[role="menuitem"]';
  const invokerOf = (menu) => document.querySelector(`[popovertarget="${CSS.escape(menu.id)}"]`);
  const itemsOf = (menu) => [...menu.querySelectorAll(ITEMS)].filter((item) => !item.disabled);
  const openMenu = () => document.querySelector(".menu:popover-open");

  // ---- Menus: aria-expanded on the button, placed under it, arrow keys inside. ----
  function prepare(root = document) {
    for (const button of root.querySelectorAll(".item-more:not([aria-expanded])")) {
      button.setAttribute("aria-expanded", "false");
    }
  }

  function place(menu, button) {
    const gap = 4, margin = 8;
    const anchor = button.getBoundingClientRect();
    menu.classList.add("placed");
    const width = menu.offsetWidth, height = menu.offsetHeight;
    let left = Math.min(anchor.right - width, window.innerWidth - width - margin);
    left = Math.max(margin, left);
    let top = anchor.bottom + gap;
    if (top + height > window.innerHeight - margin && anchor.top - gap - height >= margin) {
      top = anchor.top - gap - height; // no room below: above its button
    }
    menu.style.left = `${left}px`;
    menu.style.top = `${Math.max(margin, top)}px`;
  }

  document.addEventListener(
    "toggle",
    (event) => {
      const menu = event.target;
      if (!(menu instanceof HTMLElement) || !menu.matches(".menu[popover]")) return;
      const button = invokerOf(menu);
      const open = event.newState === "open";
      button?.setAttribute("aria-expanded", String(open));
      if (open) {
        if (button) place(menu, button);
        if (!menu.contains(document.activeElement)) itemsOf(menu)[0]?.focus();
      } else {
        // No style attribute stays behind: htmx copies a swapped element's old attributes
        // onto its new copy while settling, and the page's CSP refuses style attributes.
        menu.classList.remove("placed");
        menu.removeAttribute("style");
      }
    },
    true,
  );

  // From the keyboard (Enter, Space) the menu opens at once, its first item focused, so keys
  // pressed right after land inside it (the toggle event comes later). The arrow keys are
  // left to the list, which moves between its entries with them.
  document.addEventListener("keydown", (event) => {
    const button = event.target.closest?.(".item-more[popovertarget]");
    if (!button || !["Enter", " "].includes(event.key)) return;
    const menu = document.getElementById(button.getAttribute("popovertarget"));
    if (!menu?.showPopover) return;
    event.preventDefault();
    if (menu.matches(":popover-open")) { closeMenu(menu); return; }
    menu.showPopover({ source: button });
    button.setAttribute("aria-expanded", "true");
    place(menu, button);
    itemsOf(menu)[0]?.focus();
  });

  function closeMenu(menu, { focusButton = true } = {}) {
    if (!menu?.matches(":popover-open")) return;
    menu.hidePopover();
    if (focusButton) invokerOf(menu)?.focus();
  }

  // Inside an open menu the keys belong to it (the list's own arrow keys and Escape wait).
  document.addEventListener(
    "keydown",
    (event) => {
      const menu = event.target.closest?.(".menu:popover-open");
      if (!menu) return;
      const items = itemsOf(menu);
      const at = items.indexOf(document.activeElement);
      const moves = {
        ArrowDown: (at + 1) % items.length,
        ArrowUp: (at - 1 + items.length) % items.length,
        Home: 0,
        End: items.length - 1,
      };
      if (event.key in moves) {
        event.preventDefault();
        event.stopPropagation();
        items[moves[event.key]]?.focus();
      } else if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        closeMenu(menu);
      }
    },
    true,
  );
  // Tab out of a menu closes it.
  document.addEventListener("focusout", (event) => {
    const menu = event.target.closest?.(".menu:popover-open");
    const next = event.relatedTarget;
    if (menu && next && !menu.contains(next) && next !== invokerOf(menu)) closeMenu(menu, { focusButton: false });
  });
  window.addEventListener("resize", () => closeMenu(openMenu(), { focusButton: false }));

  document.addEventListener("click", (event) => {
    const item = event.target.closest?.(ITEMS);
    const menu = item?.closest(".menu");
    const title = event.target.closest?.(".title-rename");
    if (title && startRename(title.dataset.renameFor, title.dataset.renameUrl)) event.preventDefault();
    if (!menu) return;
    if (item.dataset.renameUrl) {
      closeMenu(menu, { focusButton: false });
      if (startRename(item.dataset.renameFor, item.dataset.renameUrl)) event.preventDefault();
    } else if (item.dataset.deleteTitle !== undefined) {
      event.preventDefault();
      const button = invokerOf(menu);
      closeMenu(menu, { focusButton: false });
      askToDelete(item.href, item.dataset.deleteTitle, button);
    } else {
      // Pin, archive, export: the menu closes and the keyboard stays on its button (whose new
      // copy, same id, takes the focus back after the entry is put in its new place).
      setTimeout(() => closeMenu(menu), 0);
    }
  });

  // ---- Renaming in place: the title (header) or the entry's link (sidebar) becomes a box;
  // Enter saves through the rename view, Escape (or leaving it unchanged) puts it back. ----
  let renaming = null;

  // False when it cannot be done here (the link then opens the title as a box, without it).
  function startRename(where, url) {
    if (renaming) finishRename(false);
    const header = where === "header";
    const shown = header ? document.getElementById("conversation-title")
      : document.getElementById(`link-${where}`);
    const template = document.getElementById("rename-template");
    if (!shown || !template || !url || !window.htmx) return false;
    const menuItem = (header ? document.getElementById("menu-header")
      : shown.closest(".sidebar-item"))?.querySelector("[data-delete-title]");
    const current = menuItem?.dataset.deleteTitle ?? shown.textContent.trim();
    const form = template.content.firstElementChild.cloneNode(true);
    form.action = url;
    form.setAttribute("hx-post", url);
    form.setAttribute("hx-swap", "none");
    const input = form.querySelector('input[name="title"]');
    input.value = current;
    input.id = "rename-box";
    if (!header) form.classList.add("rename-entry");
    shown.after(form);
    shown.hidden = true;
    renaming = { form, input, shown, url, header, where, original: current };
    htmx.process(form);
    input.focus();
    input.select();
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        finishRename(true);
      }
    });
    input.addEventListener("blur", () => {
      setTimeout(() => {
        if (renaming?.input !== input || form.dataset.sent) return;
        const value = input.value.trim();
        if (value && value !== current) form.requestSubmit();
        else finishRename(false);
      }, 0);
    });
    form.addEventListener("submit", () => { form.dataset.sent = "1"; });
    return true;
  }

  function finishRename(returnFocus) {
    const state = renaming;
    if (!state) return;
    renaming = null;
    state.form.remove();
    state.shown.hidden = false;
    if (returnFocus) {
      const target = state.header ? document.getElementById("title-link") : document.getElementById(`link-${state.where}`);
      target?.focus();
    }
  }

  // (After the swap: htmx swaps nothing for a form taken out of the page meanwhile.)
  document.addEventListener("htmx:finally:request", (event) => {
    const ctx = event.detail?.ctx;
    if (!renaming || !ctx?.request?.action || !ctx.response) return;
    if (new URL(ctx.request.action, location.href).pathname !== new URL(renaming.url, location.href).pathname) return;
    if (ctx.response.status >= 400) { delete renaming.form.dataset.sent; return; }
    finishRename(true);
  });

  // ---- Delete asks in a dialog (Cancel first); the confirmation page is the fallback. ----
  let deleteReturn = null;

  function askToDelete(pageUrl, title, returnTo) {
    const dialog = document.getElementById("delete-dialog");
    if (!dialog?.showModal) { location.assign(pageUrl); return; }
    const form = dialog.querySelector("form");
    form.action = pageUrl;
    dialog.querySelector("#delete-dialog-text").textContent = dialog.dataset.sentence.replace("{title}", title);
    deleteReturn = returnTo;
    dialog.showModal();
  }

  document.addEventListener("click", (event) => {
    if (event.target.closest?.(".dialog-cancel")) event.target.closest("dialog")?.close();
  });
  document.getElementById("delete-dialog")?.addEventListener("close", () => {
    if (deleteReturn?.isConnected) deleteReturn.focus();
    deleteReturn = null;
  });
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.closest?.("#delete-dialog")) return;
    event.preventDefault();
    const token = form.querySelector('[name="csrfmiddlewaretoken"]')?.value ?? "";
    const url = form.action;
    deleteReturn = null; // the entry goes: the focus is given back by layout.js
    form.closest("dialog").close();
    htmx.ajax("POST", url, { swap: "none", headers: { "X-CSRFToken": token } });
  });

  // ---- Notices with Undo: they close by themselves after a while (not while in use). ----
  const NOTICE_MS = 8000;
  function timeNotices() {
    for (const toast of document.querySelectorAll("[data-toast]:not([data-timed])")) {
      toast.dataset.timed = "1";
      const close = () => {
        if (!toast.isConnected) return;
        if (toast.matches(":hover, :focus-within")) setTimeout(close, 2000);
        else toast.remove();
      };
      setTimeout(close, NOTICE_MS);
    }
  }
  // After Undo the keyboard goes to the entry that came back, unless the person has already
  // moved on (say, opened another entry's menu, which taking the focus would close).
  document.addEventListener("click", (event) => {
    const undo = event.target.closest?.("[data-undo-for]");
    if (!undo) return;
    const id = `link-${undo.dataset.undoFor}`;
    let tries = 0;
    const focusEntry = () => {
      const entry = document.getElementById(id);
      if (entry && !undo.isConnected) {
        const active = document.activeElement;
        if (!active || active === document.body) entry.focus();
      } else if (tries++ < 40) setTimeout(focusEntry, 50);
    };
    setTimeout(focusEntry, 50);
  });

  new MutationObserver(() => { prepare(); timeNotices(); }).observe(document.documentElement, {
    subtree: true,
    childList: true,
  });
  function start() { prepare(); timeNotices(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
