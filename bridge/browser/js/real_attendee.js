// pathfinder-bridge demo: watches a page where the real Pathfinder panel is a Live Sessions
// attendee, so the demo can say what the original did with each event (its highlight, over
// which element, or the notification it showed instead), and tells what a person waiting on a
// step of that panel can press. Injected only into the demo's real-panel attendee; it reads
// the page and reports through the exposed binding, never acting on its own.
(() => {
  "use strict";
  if (window.top !== window || window.__pathfinderBridgeRealAttendee) return;
  const report = (payload) => {
    if (typeof window.__pathfinderBridgeWatch === "function") window.__pathfinderBridgeWatch(payload);
  };

  const describe = (el) => {
    const label = el.getAttribute("aria-label") || el.getAttribute("data-testid") || el.textContent.trim();
    return `${el.tagName.toLowerCase()} '${label.replace(/\s+/g, " ").slice(0, 40)}'`;
  };
  // The page element (not the panel) whose box is the outline's, 4 px inside it; of nested
  // elements with that box, the innermost (a button rather than the div around it).
  const under = (box) => {
    const o = box.getBoundingClientRect();
    const close = (a, b) => Math.abs(a - b) < 1.5;
    let found = null;
    for (const el of document.querySelectorAll("#app *")) {
      const r = el.getBoundingClientRect();
      if (close(r.left, o.left + 4) && close(r.top, o.top + 4) && close(r.width, o.width - 8) && close(r.height, o.height - 8))
        found = el;
    }
    return found ? describe(found) : "a small element";
  };

  const start = () => new MutationObserver((records) => {
    for (const record of records) for (const node of record.addedNodes) {
      if (!(node instanceof Element)) continue;
      if (node.matches(".interactive-highlight-outline, .interactive-highlight-dot")) {
        report({ kind: "highlight", element: under(node) });
      } else if (node.matches(".page-alert-list > [role]")) {
        const title = node.getAttribute("aria-label") || "";
        report({ kind: "notice", title, text: node.textContent.slice(title.length).trim() });
      }
    }
  }).observe(document.documentElement, { childList: true, subtree: true });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();

  window.__pathfinderBridgeRealAttendee = {
    // A step's button when it can be pressed ("ready"), or what the panel offers for a
    // blocked step ("fix": Fix this, "retry": Retry); false while it is being checked.
    offer(kind, id) {
      const button = document.querySelector(`[data-testid="interactive-${kind}-${CSS.escape(id)}"]`);
      if (button && !button.disabled) return "ready";
      const step = document.querySelector(`[data-step-id="${CSS.escape(id)}"]`);
      if (!step || step.getAttribute("data-test-requirements-state") === "checking") return false;
      for (const offer of ["fix", "retry"])
        if (document.querySelector(`[data-testid="interactive-requirement-${offer}-${CSS.escape(id)}"]`)) return offer;
      return false;
    },
    done(id) {
      const step = document.querySelector(`[data-step-id="${CSS.escape(id)}"]`);
      return !!step && step.getAttribute("data-test-step-state") === "completed";
    },
  };
})();
