// pathfinder-bridge capture, run in an isolated world of the presenter's Grafana tab on every
// page and reload: it shares the page's DOM, not its scripts, and only it can call the binding
// (no frame's scripts can). A capture-phase click listener finds Show me / Do it buttons (by
// the step's button classes, so every step kind is seen) and tells Python which step was
// clicked; Python reads the step itself back from the docs panel (a report is only a hint).
// Also reports when the guide on show and the page route change. Attendees never run it.
(() => {
  "use strict";
  if (window.top !== window || window.__pathfinderBridgeCapture_installed) return;
  window.__pathfinderBridgeCapture_installed = true;
  const contract = window.__pathfinderBridgeContract;
  const binding = window.__pathfinderBridgeCapture; // a CDP binding: one string argument
  const report = (payload) => {
    if (typeof binding === "function") binding(JSON.stringify(payload));
  };
  const stepIdAttribute = contract.step.attributes.step_id;
  const showClass = contract.show_button.class;
  const doClass = contract.do_button.class;
  const recent = new Map();
  const DUPLICATE_MS = 100;

  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element && event.target.closest(`.${showClass}, .${doClass}`);
    if (!button || button.disabled) return;
    const step = button.closest(contract.step.selector);
    if (!step) return;
    const type = button.classList.contains(showClass) ? "show_me" : "do_it";
    const stepId = step.getAttribute(stepIdAttribute) || "";
    const now = performance.now();
    const key = type + "|" + stepId;
    if (now - (recent.get(key) ?? -Infinity) < DUPLICATE_MS) return;
    recent.set(key, now);
    report({
      kind: "step",
      type,
      stepId,
      x: Math.round(event.clientX),
      y: Math.round(event.clientY),
      capturedAt: performance.timeOrigin + now,
    });
  }, true);

  // The guide on show: the panel root carries its URL.
  let lastGuide = null;
  const checkGuide = () => {
    const root = document.querySelector(contract.panel_root);
    const url = root && !root.hidden ? root.getAttribute(contract.guide_attribute) : null;
    if (url && url !== lastGuide) {
      lastGuide = url;
      report({ kind: "guide", url, route: location.pathname + location.search });
    }
  };
  // Routes: single-page apps change them with pushState, which the page's own history object
  // does (not ours, in this world): the Navigation API tells every world, and a route change
  // re-renders, which the observer below sees too.
  let lastRoute = null;
  const checkRoute = () => {
    const route = location.pathname + location.search;
    if (route !== lastRoute) {
      lastRoute = route;
      report({ kind: "route", route });
    }
  };
  window.navigation?.addEventListener("currententrychange", checkRoute);
  window.addEventListener("popstate", checkRoute);
  const start = () => {
    checkRoute();
    new MutationObserver(() => { checkRoute(); checkGuide(); }).observe(document.documentElement, {
      subtree: true, childList: true, attributes: true, attributeFilter: [contract.guide_attribute, "hidden"],
    });
    checkGuide();
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
