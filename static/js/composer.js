// The composer: while a reply of the open conversation is being written its Send button is a
// Stop button in the same place (Escape stops too, Enter does not send), with a sentence
// beside it when the reply has been silent a while; and the conversation settings open in a
// dialog. Progressive enhancement: without this file the server renders Stop or Send as the
// reply's state was, and the settings fold open under the message box.
(() => {
  "use strict";

  const composer = document.getElementById("composer");
  if (!composer) return;
  const box = document.getElementById("message");
  const send = composer.querySelector("button.send");
  const stop = composer.querySelector("button.stop");
  const slow = document.getElementById("composer-slow");
  const slowAfter = 1000 * (parseFloat(composer.dataset.slowAfter) || 20);

  // ---- Send or Stop: a reply is being written while the transcript has a busy reply that
  // still has its controls (they carry its Stop address; a stream ended for good takes them).
  const writingControls = () =>
    document.querySelector('#transcript article.reply[aria-busy="true"] [data-stop-url]');
  let writing = null; // the stop address of the reply being written
  let slowTimer;

  function setSlow(on) {
    const text = on ? slow.dataset.text : "";
    if (slow.textContent !== text) slow.textContent = text;
  }

  // No new text for a while (keepalives change nothing on the page): say so beside Stop.
  function heard() {
    clearTimeout(slowTimer);
    setSlow(false);
    if (writing) slowTimer = setTimeout(() => setSlow(true), slowAfter);
  }

  function sync() {
    const url = writingControls()?.dataset.stopUrl ?? null;
    if (url === writing) return;
    writing = url;
    const stopHadFocus = document.activeElement === stop;
    send.hidden = writing !== null;
    stop.hidden = writing === null;
    if (writing) stop.setAttribute("formaction", writing);
    else stop.removeAttribute("formaction");
    heard();
    if (stopHadFocus && !writing) box.focus({ preventScroll: true });
  }

  async function stopWriting() {
    if (!writing) return;
    const token = composer.querySelector("[name=csrfmiddlewaretoken]")?.value ?? "";
    try {
      await fetch(writing, {
        method: "POST",
        headers: { "X-CSRFToken": token, "HX-Request": "true" },
        credentials: "same-origin",
      });
    } catch {
      // The page stays as it is; the next Stop tries again.
    }
  }

  stop.addEventListener("click", (event) => {
    event.preventDefault();
    stopWriting();
  });

  // Enter sends, Shift+Enter makes a new line (nothing happens mid-IME composition); while a
  // reply is being written Enter does nothing, and the text stays in the box. A message may
  // be only files (attachments.js keeps them in the file input).
  const attachments = document.getElementById("attachments");
  box.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    if (!writing && (box.value.trim() || attachments?.files.length)) composer.requestSubmit(send);
  });

  // Escape stops the reply that is being written (an open dialog or menu closes first: their
  // own handlers run before, or the event comes from inside them).
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.defaultPrevented || !writing) return;
    if (event.target.closest?.("dialog") || document.querySelector("dialog[open]")) return;
    stopWriting();
  });

  const transcript = document.getElementById("transcript");
  new MutationObserver((records) => {
    sync();
    if (!writing) return;
    for (const record of records) {
      const target = record.target.nodeType === 1 ? record.target : record.target.parentElement;
      if (record.type !== "attributes" && target?.closest(".reply-content, .reasoning")) {
        heard();
        return;
      }
    }
  }).observe(transcript, {
    subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ["aria-busy"],
  });
  sync();

  // ---- The settings: the folding section becomes a button that opens them in a dialog (in
  // the form still, so they are sent with each message), which does not move the composer. ----
  const details = document.getElementById("settings");
  const panel = document.getElementById("settings-panel");
  if (!details || !panel || typeof HTMLDialogElement !== "function") return;
  const dialog = document.createElement("dialog");
  dialog.className = "settings-dialog";
  dialog.setAttribute("aria-labelledby", "settings-heading");
  dialog.append(panel);
  const opener = document.createElement("button");
  opener.type = "button";
  opener.className = "settings-open";
  opener.setAttribute("aria-haspopup", "dialog");
  opener.append(...details.querySelector("summary").childNodes);
  details.replaceWith(opener);
  composer.append(dialog);
  for (const close of panel.querySelectorAll("[data-settings-close]")) close.hidden = false;

  opener.addEventListener("click", () => {
    dialog.showModal();
    document.getElementById("id_instructions")?.focus();
  });
  panel.addEventListener("click", (event) => {
    if (event.target.closest("[data-settings-close]")) dialog.close();
  });
  // A click on the shade around the dialog closes it too.
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close();
  });
  dialog.addEventListener("close", () => opener.focus());
})();
