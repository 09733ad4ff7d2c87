// Small progressive enhancements for the chat page, and its list kept in step with the
// browser's other tabs. The page works without this file: forms post, and a generating
// reply's page refreshes itself (see chat.html).
(() => {
  "use strict";

  const messageBox = () => document.getElementById("message");
  const transcript = () => document.getElementById("transcript");

  // (Enter sends, and Escape stops a reply, in composer.js.)

  // After a successful send (the server triggers chat:sent) the box empties and keeps focus.
  // A refused send triggers nothing, so the typed text stays.
  document.body?.addEventListener("chat:sent", () => {
    const box = messageBox();
    if (!box) return;
    box.value = "";
    box.focus();
    followToBottom(true);
  });

  // Scrolling follows a growing reply until the reader scrolls up, then stays put.
  let following = true;
  const nearBottom = () =>
    window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 80;
  window.addEventListener("scroll", () => { following = nearBottom(); }, { passive: true });
  function followToBottom(force) {
    if (force) following = true;
    if (following) window.scrollTo({ top: document.documentElement.scrollHeight });
  }

  // A bar above every code block with its language and a Copy button (never over the code);
  // its labels come translated from the page.
  const label = (name) => transcript()?.dataset[name] ?? name;
  function addCopyButtons(root) {
    for (const block of root.querySelectorAll(".codeblock:not([data-copy-ready])")) {
      block.dataset.copyReady = "1";
      const bar = document.createElement("div");
      bar.className = "codeblock-bar";
      const language = document.createElement("span");
      language.className = "codeblock-lang";
      language.textContent = block.dataset.lang || "";
      const button = document.createElement("button");
      button.type = "button";
      button.className = "copy-code subtle";
      button.textContent = label("copyLabel");
      button.addEventListener("click", async () => {
        const code = block.querySelector("code")?.innerText ?? "";
        try {
          await navigator.clipboard.writeText(code);
          button.textContent = label("copiedLabel");
        } catch {
          button.textContent = label("copyFailedLabel");
        }
        setTimeout(() => { button.textContent = label("copyLabel"); }, 1500);
      });
      bar.append(language, button);
      block.prepend(bar);
    }
  }

  // Shortcuts (listed in the sidebar and in aria-keyshortcuts): Ctrl/Cmd+Shift+O opens a new
  // chat; Ctrl/Cmd+K, or "/" outside a text field, goes to the search box.
  const typing = (target) => target.closest?.("input, textarea, select, [contenteditable]");
  document.addEventListener("keydown", (event) => {
    const modifier = event.ctrlKey || event.metaKey;
    const key = event.key.toLowerCase();
    if (modifier && event.shiftKey && key === "o") {
      event.preventDefault();
      const newChat = document.querySelector("a.new-chat");
      window.location.assign(newChat ? newChat.href : "/");
    } else if ((modifier && !event.shiftKey && key === "k") || (key === "/" && !modifier && !typing(event.target))) {
      const search = document.getElementById("search-box");
      if (!search) return;
      event.preventDefault();
      search.focus();
      search.select();
    }
  });

  // An example prompt on an empty chat fills the message box (it does not send it).
  function offerExamplePrompts() {
    for (const item of document.querySelectorAll("[data-example-prompt]:not([data-ready])")) {
      item.dataset.ready = "1";
      const button = document.createElement("button");
      button.type = "button";
      button.className = "example-prompt";
      button.textContent = item.textContent.trim();
      button.addEventListener("click", () => {
        const box = messageBox();
        box.value = button.textContent;
        box.focus();
        box.setSelectionRange(box.value.length, box.value.length);
      });
      item.replaceChildren(button);
    }
  }

  // "Reply ready" notices close with their button.
  document.addEventListener("click", (event) => {
    const dismiss = event.target.closest?.("[data-dismiss]");
    if (dismiss) dismiss.parentElement.remove();
  });

  // (Focus lost to a swap is given back by layout.js.)
  document.addEventListener("htmx:after:swap", () => {
    addCopyButtons(document);
    followToBottom(false);
  });
  document.addEventListener("DOMContentLoaded", () => {
    addCopyButtons(document);
    offerExamplePrompts();
    if (transcript()?.querySelector(".turn")) followToBottom(true);
  });

  // ---- Other tabs of this browser: a pin, unpin, archive, unarchive, rename, delete or its Undo made in
  // one is applied to the others' lists (each asks for the entry's new place, or drops it). ----
  const ORGANISED = /\/c\/([0-9a-f-]{36})\/(pin|unpin|archive|unarchive|restore|rename|delete)\/$/;
  const tabs = "BroadcastChannel" in window ? new BroadcastChannel("conversation-list") : null;
  const pathOf = (url) => new URL(url, location.href).pathname;

  document.addEventListener("htmx:after:request", (event) => {
    const ctx = event.detail?.ctx;
    if (!tabs || !ctx?.request?.action || !ctx.response || ctx.response.status >= 400) return;
    const path = pathOf(ctx.request.action);
    if (ORGANISED.test(path)) tabs.postMessage({ path });
  });
  document.addEventListener("submit", (event) => { // deleting is a plain form post
    const path = pathOf(event.target.action || location.href);
    if (tabs && ORGANISED.exec(path)?.[2] === "delete") tabs.postMessage({ path });
  });
  tabs?.addEventListener("message", ({ data }) => {
    const [, id, action] = ORGANISED.exec(data?.path ?? "") ?? [];
    if (!id) return;
    if (action === "delete") document.getElementById(`sidebar-item-${id}`)?.remove();
    else if (document.getElementById("sidebar-list")) {
      htmx.ajax("GET", data.path.replace(ORGANISED, `/c/${id}/place/`), { swap: "none" });
    }
  });
})();
