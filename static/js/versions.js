// Versions of a turn and copying a reply (progressive: without this file the Edit form posts,
// its Cancel link reloads the page, and the Copy buttons stay hidden).
(() => {
  "use strict";

  const label = (name) => document.getElementById("transcript")?.dataset[name] ?? name;

  function showCopyButtons() {
    for (const button of document.querySelectorAll(".copy-reply[hidden]")) button.hidden = false;
  }

  // The button's words change; its icon stays.
  const showLabel = (button, text) => {
    (button.querySelector(".button-label") ?? button).textContent = text;
  };

  // "Copy" puts the reply's markdown source on the clipboard.
  document.addEventListener("click", async (event) => {
    const button = event.target.closest?.(".copy-reply");
    if (!button) return;
    try {
      await navigator.clipboard.writeText(button.dataset.markdown ?? "");
      showLabel(button, label("copiedLabel"));
    } catch {
      showLabel(button, label("copyFailedLabel"));
    }
    setTimeout(() => showLabel(button, label("copyLabel")), 1500);
  });

  function closeEditor(details) {
    details.querySelector("form")?.reset();
    details.open = false;
    details.querySelector("summary")?.focus();
  }

  // "Cancel" closes the editor and puts the message back as it was.
  document.addEventListener("click", (event) => {
    const cancel = event.target.closest?.(".edit-cancel");
    if (!cancel) return;
    event.preventDefault();
    closeEditor(cancel.closest("details"));
  });

  // Opening the editor puts the cursor at the end of the message (the toggle event comes a
  // moment after the click: if the box already has focus, someone is typing: leave it be).
  document.addEventListener("toggle", (event) => {
    const details = event.target;
    if (!details.classList?.contains("edit-turn") || !details.open) return;
    const box = details.querySelector("textarea");
    if (document.activeElement === box) return;
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
  }, true);

  // In the editor, Enter sends and Shift+Enter starts a new line, as in the message box;
  // Escape cancels.
  document.addEventListener("keydown", (event) => {
    const details = event.target.closest?.(".edit-turn");
    if (!details || event.target.tagName !== "TEXTAREA" || event.isComposing) return;
    if (event.key === "Escape") {
      closeEditor(details);
    } else if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      if (event.target.value.trim()) event.target.form.requestSubmit();
    }
  });

  document.addEventListener("htmx:after:swap", showCopyButtons);
  document.addEventListener("DOMContentLoaded", showCopyButtons);
})();
