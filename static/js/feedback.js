// The feedback comment box grows with its text. CSS does it (`field-sizing: content`, within the
// box's min/max height); where a browser lacks it, this sets the box's rows from its text
// instead (rows, not an inline style: the page's CSP forbids style attributes).
(() => {
  "use strict";

  if (window.CSS?.supports?.("field-sizing", "content")) return;
  const boxes = ".feedback-comment textarea";
  const grow = (box) => {
    const style = getComputedStyle(box);
    const line = parseFloat(style.lineHeight) || 20;
    const padding = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
    box.rows = 1;
    box.rows = Math.max(2, Math.ceil((box.scrollHeight - padding) / line));
  };
  const growAll = () => document.querySelectorAll(boxes).forEach(grow);
  document.addEventListener("input", (event) => {
    if (event.target.matches?.(boxes)) grow(event.target);
  });
  document.addEventListener("htmx:after:swap", growAll);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", growAll);
  else growAll();
})();
