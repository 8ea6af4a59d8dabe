// pathfinder-bridge capture, injected into the presenter's Grafana on every page and reload.
// A capture-phase click listener finds Show me / Do it buttons (by the step's button classes,
// so every step kind is seen) and tells Python which step was clicked through the exposed
// binding; Python reads the step itself back from the docs panel (a report is only a hint).
// Also reports when the guide on show and the page route change. Attendees never run it.
(() => {
  "use strict";
  if (window.top !== window || window.__pathfinderBridgeCapture_installed) return;
  window.__pathfinderBridgeCapture_installed = true;
  const contract = window.__pathfinderBridgeContract;
  const report = (payload) => {
    if (typeof window.__pathfinderBridgeCapture === "function") window.__pathfinderBridgeCapture(payload);
  };
  const stepIdAttribute = contract.step.attributes.step_id;
  const showClass = contract.show_button.class;
  const doClass = contract.do_button.class;
  // The real panel's multistep button ("Run N steps") has neither class; its test id says Do it.
  const showTestId = contract.show_button.testid_prefix;
  const doTestId = contract.do_button.testid_prefix;
  const buttons = `.${showClass}, .${doClass}, button[data-testid^="${showTestId}"], button[data-testid^="${doTestId}"]`;
  const recent = new Map();
  const DUPLICATE_MS = 100;

  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element && event.target.closest(buttons);
    if (!button || button.disabled) return;
    const step = button.closest(contract.step.selector);
    if (!step) return;
    const isShow = button.classList.contains(showClass) || (button.getAttribute("data-testid") || "").startsWith(showTestId);
    const type = isShow ? "show_me" : "do_it";
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

  // The guide on show: the imitation's panel root carries its URL; the real panel keeps its tabs
  // in localStorage (js/guide_steps.js reads the active one's URL). A change of either is the hint.
  const storage = contract.tabs_storage;
  const tabs = () => {
    try {
      return (window.localStorage.getItem(storage.active_tab_key) || "") + (window.localStorage.getItem(storage.tabs_key) || "");
    } catch { return ""; }
  };
  let lastGuide = null;
  const checkGuide = () => {
    const root = document.querySelector(contract.panel_root);
    const hint = root && !root.hidden ? root.getAttribute(contract.guide_attribute) || tabs() : null;
    if (hint && hint !== lastGuide) {
      lastGuide = hint;
      report({ kind: "guide", route: location.pathname + location.search });
    }
  };
  // Routes: single-page apps change them with pushState; patch it to hear about it.
  let lastRoute = null;
  const checkRoute = () => {
    const route = location.pathname + location.search;
    if (route !== lastRoute) {
      lastRoute = route;
      report({ kind: "route", route });
    }
  };
  for (const name of ["pushState", "replaceState"]) {
    const original = history[name];
    history[name] = function (...args) {
      const result = original.apply(this, args);
      queueMicrotask(checkRoute);
      return result;
    };
  }
  window.addEventListener("popstate", checkRoute);
  // The real panel's tab writes happen in the same page (no storage event): hear them too.
  const setItem = Storage.prototype.setItem;
  Storage.prototype.setItem = function (key, value) {
    const result = setItem.call(this, key, value);
    if (key === storage.tabs_key || key === storage.active_tab_key) queueMicrotask(checkGuide);
    return result;
  };
  const start = () => {
    checkRoute();
    new MutationObserver(checkGuide).observe(document.documentElement, {
      subtree: true, childList: true, attributes: true, attributeFilter: [contract.guide_attribute, "hidden"],
    });
    checkGuide();
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
