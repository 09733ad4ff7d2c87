// Files sent with a message: the Attach button opens the file chooser, files dropped on the
// chat or images pasted into the message box join them, and each shows as a chip (name, size,
// a thumbnail for images, a Remove button) until the message is sent. The file input stays
// the one that holds the files: its FileList is kept equal to the chips, so the form's own
// submission (htmx or not) carries exactly what is shown. Files the server would refuse for
// their size, their number or their kind are refused here first, with its sentences; the
// server still decides. Without this file the plain file input posts with the form.
(() => {
  "use strict";

  const composer = document.getElementById("composer");
  const input = document.getElementById("attachments");
  const list = document.getElementById("attachment-chips");
  const chipTemplate = document.getElementById("attachment-chip");
  if (!composer || !input || !list || !chipTemplate || typeof DataTransfer !== "function") return;
  const box = document.getElementById("message");
  const status = document.getElementById("attachment-status");
  const errors = document.getElementById("composer-error");
  const overlay = document.getElementById("drop-overlay");
  const chat = composer.closest(".chat") ?? document.body;
  const attach = composer.querySelector("[data-attach]");
  const text = list.dataset;

  const maxBytes = parseInt(input.dataset.maxBytes, 10) || Infinity;
  const maxFiles = parseInt(input.dataset.maxFiles, 10) || Infinity;
  const accepted = (input.accept || "").split(",").map((kind) => kind.trim().toLowerCase())
    .filter(Boolean);

  /** @type {{file: File, url: string | null, chip: HTMLLIElement}[]} */
  let attached = [];

  // ---- Sentences, from the page (translated there), with %(name)s-style places.
  const fill = (sentence, values) =>
    sentence.replace(/%\((\w+)\)s/g, (place, key) => String(values[key] ?? place));
  const language = document.documentElement.lang || undefined;
  const number = (value, digits) => {
    try {
      return new Intl.NumberFormat(language, { maximumFractionDigits: digits }).format(value);
    } catch {
      return value.toFixed(digits);
    }
  };
  function humanSize(bytes) {
    if (bytes < 1024) {
      const one = new Intl.PluralRules("en").select(bytes) === "one";
      return fill(one ? text.byte : text.bytes, { size: number(bytes, 0) });
    }
    if (bytes < 1024 * 1024) return fill(text.kb, { size: number(bytes / 1024, bytes < 10240 ? 1 : 0) });
    return fill(text.mb, { size: number(bytes / (1024 * 1024), 1) });
  }

  // ---- What the input accepts: ".ext", "type/*" or "type/subtype", as the chooser reads it.
  // A file the browser knows no type of (no or an unknown extension: "Dockerfile", a PDF
  // saved without its ".pdf") goes to the server, which decides from its content.
  function isAccepted(file) {
    if (!accepted.length) return true;
    const name = file.name.toLowerCase();
    const type = (file.type || "").toLowerCase();
    if (!type || type === "application/octet-stream") return true;
    return accepted.some((kind) => {
      if (kind.startsWith(".")) return name.endsWith(kind);
      if (kind.endsWith("/*")) return type.startsWith(kind.slice(0, -1));
      return type === kind;
    });
  }
  const sameFile = (a, b) =>
    a.name === b.name && a.size === b.size && a.lastModified === b.lastModified;

  // ---- The input's FileList, the form's encoding, and the list's visibility follow the chips.
  function sync() {
    const files = new DataTransfer();
    for (const { file } of attached) files.items.add(file);
    input.files = files.files;
    list.hidden = attached.length === 0;
    // Multipart only with files: a message without any goes as before (a plain form post).
    composer.setAttribute(
      "hx-encoding",
      attached.length ? "multipart/form-data" : "application/x-www-form-urlencoded",
    );
  }

  function announce(sentence) {
    if (!status) return;
    status.textContent = "";
    // Emptied first, so the same sentence twice is read twice.
    setTimeout(() => { status.textContent = sentence; }, 50);
  }

  function showRefusals(sentences) {
    if (!errors) return;
    errors.replaceChildren(...sentences.map((sentence) => {
      const line = document.createElement("p");
      line.textContent = sentence;
      return line;
    }));
  }

  function makeChip(file) {
    const chip = chipTemplate.content.firstElementChild.cloneNode(true);
    chip.querySelector(".chip-name").textContent = file.name;
    chip.querySelector(".chip-size").textContent = humanSize(file.size);
    chip.title = file.name;
    const remove = chip.querySelector(".chip-remove");
    remove.setAttribute("aria-label", fill(text.remove, { name: file.name }));
    let url = null;
    if (file.type.startsWith("image/")) {
      url = URL.createObjectURL(file);
      const thumbnail = document.createElement("img");
      thumbnail.className = "chip-thumbnail";
      thumbnail.alt = "";
      thumbnail.src = url;
      // A file that is not really an image keeps the file icon.
      thumbnail.addEventListener("load", () => chip.querySelector(".chip-preview").replaceChildren(thumbnail));
      chip.classList.add("is-image");
    }
    return { file, url, chip };
  }

  /** Adds what was chosen, dropped or pasted; refuses, with a sentence, what the server would. */
  function add(files) {
    files = Array.from(files ?? []);
    if (!files.length) return;
    const refusals = [];
    const welcome = [];
    for (const file of files) {
      if (attached.some((item) => sameFile(item.file, file)) || welcome.some((item) => sameFile(item, file))) continue;
      if (!isAccepted(file)) refusals.push(fill(text.notAccepted, { name: file.name }));
      else if (file.size > maxBytes) refusals.push(fill(text.tooLarge, { name: file.name }));
      else welcome.push(file);
    }
    const room = Math.max(0, maxFiles - attached.length);
    if (welcome.length > room) {
      refusals.push(fill(text.tooMany, { count: attached.length + welcome.length }));
      welcome.splice(room);
    }
    for (const file of welcome) {
      const item = makeChip(file);
      attached.push(item);
      list.append(item.chip);
    }
    sync();
    if (refusals.length) showRefusals(refusals);
    else if (welcome.length && errors) errors.replaceChildren();
    if (welcome.length) announce(welcome.map((file) => fill(text.added, { name: file.name })).join(" "));
  }

  function remove(item) {
    const index = attached.indexOf(item);
    if (index < 0) return;
    attached.splice(index, 1);
    if (item.url) URL.revokeObjectURL(item.url);
    item.chip.remove();
    sync();
    announce(fill(text.removed, { name: item.file.name }));
    // Focus goes to the next chip's Remove (else the previous one's), else to the message box.
    const next = attached[index] ?? attached[index - 1];
    (next?.chip.querySelector(".chip-remove") ?? box)?.focus();
  }

  /** After a send: its files go (any added while it was on its way stay). */
  function clear(sent) {
    for (const item of sent) {
      if (item.url) URL.revokeObjectURL(item.url);
      item.chip.remove();
    }
    attached = attached.filter((item) => !sent.includes(item));
    sync();
  }

  list.addEventListener("click", (event) => {
    const button = event.target.closest?.(".chip-remove");
    if (!button) return;
    remove(attached.find((item) => item.chip.contains(button)));
  });

  // ---- The chooser: the Attach button opens it; the input itself leaves the Tab order (the
  // button is its way in) and is hidden by the stylesheet (.js .attach-input).
  if (attach) {
    input.tabIndex = -1;
    attach.addEventListener("click", () => input.click());
  }
  // The chooser's pick replaces the input's FileList: it is added to the chips, which then
  // put every file back.
  input.addEventListener("change", () => add(input.files));

  // ---- Images pasted into the message box (text pasted with them stays text).
  box?.addEventListener("paste", (event) => {
    const data = event.clipboardData;
    const files = Array.from(data?.files ?? []);
    if (!files.length || data.types.includes("text/plain")) return;
    event.preventDefault();
    add(files);
  });

  // ---- Files dropped anywhere on the chat; dropped elsewhere on the page they are ignored
  // (the browser would otherwise leave the page for the file, and the typed text with it).
  const carriesFiles = (event) => Array.from(event.dataTransfer?.types ?? []).includes("Files");
  let depth = 0;
  const showOverlay = (on) => { if (overlay) overlay.hidden = !on; };
  chat.addEventListener("dragenter", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth += 1;
    showOverlay(true);
  });
  chat.addEventListener("dragleave", (event) => {
    if (!carriesFiles(event)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) showOverlay(false);
  });
  chat.addEventListener("dragover", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  chat.addEventListener("drop", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth = 0;
    showOverlay(false);
    add(event.dataTransfer.files);
    box?.focus({ preventScroll: true });
  });
  for (const type of ["dragover", "drop"]) {
    document.addEventListener(type, (event) => {
      if (carriesFiles(event) && !chat.contains(event.target)) {
        event.preventDefault();
        if (type === "dragover") event.dataTransfer.dropEffect = "none";
      }
    });
  }
  window.addEventListener("dragend", () => { depth = 0; showOverlay(false); });

  // ---- Sending: the form carries no empty file part; after a successful send the chips go
  // with the text (a refused send triggers nothing: the chips and their files stay).
  composer.addEventListener("formdata", (event) => {
    if (!attached.length) event.formData.delete(input.name);
  });
  // The form's other requests (Save settings) never carry the files.
  const sendPath = new URL(composer.getAttribute("hx-post") ?? composer.action, location.href).pathname;
  let sending = [];
  document.addEventListener("htmx:config:request", (event) => {
    const request = event.detail?.ctx?.request;
    if (!(request?.body instanceof FormData) || request.form !== composer) return;
    if (new URL(request.action, location.href).pathname === sendPath) sending = attached.slice();
    else request.body.delete(input.name);
  });
  document.body.addEventListener("chat:sent", () => clear(sending));

  // The page came back from the cache, or the browser kept a choice: the chips show it.
  if (input.files.length) {
    const kept = Array.from(input.files);
    input.value = "";
    add(kept);
  } else {
    sync();
  }
})();
