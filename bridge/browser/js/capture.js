// pathfinder-bridge capture, injected into the presenter's Grafana on every page and reload.
// A capture-phase click listener finds Show me / Do it buttons (by the step's button classes,
// so every step kind is seen) and hands the step to Python through the exposed binding.
// Also reports which guide the docs panel shows and the page route. Attendees never run it.
(() => {
  "use strict";
  if (window.top !== window || window.__pathfinderBridgeCapture_installed) return;
  window.__pathfinderBridgeCapture_installed = true;
  const contract = window.__pathfinderBridgeContract;
  const report = (payload) => {
    if (typeof window.__pathfinderBridgeCapture === "function") window.__pathfinderBridgeCapture(payload);
  };
  const attrs = contract.step.attributes;
  const showClass = contract.show_button.class;
  const doClass = contract.do_button.class;
  // The real panel's multistep button ("Run N steps") has neither class; its test id says Do it.
  const showTestId = contract.show_button.testid_prefix;
  const doTestId = contract.do_button.testid_prefix;
  const buttons = `.${showClass}, .${doClass}, button[data-testid^="${showTestId}"], button[data-testid^="${doTestId}"]`;
  const recent = new Map();
  const DUPLICATE_MS = 100;

  // The guide on show. The imitation names it on the panel root; the real panel keeps its tabs
  // in localStorage, and its own presenter announces the active tab's currentUrl, else baseUrl.
  const storage = contract.tabs_storage;
  const stored = (key) => {
    try { return JSON.parse(window.localStorage.getItem(key) || "null"); } catch { return null; }
  };
  const activeTabUrl = () => {
    const active = stored(storage.active_tab_key);
    const tabs = stored(storage.tabs_key);
    if (typeof active !== "string" || !Array.isArray(tabs)) return null;
    const tab = tabs.find((t) => t && t.id === active);
    const url = tab && (tab.currentUrl || tab.baseUrl);
    return typeof url === "string" && url ? url : null;
  };
  const guideOnShow = (root) => (root && (root.getAttribute(contract.guide_attribute) || activeTabUrl())) || null;

  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element && event.target.closest(buttons);
    if (!button || button.disabled) return;
    const step = button.closest(contract.step.selector);
    if (!step) return;
    const isShow = button.classList.contains(showClass) || (button.getAttribute("data-testid") || "").startsWith(showTestId);
    const type = isShow ? "show_me" : "do_it";
    const stepId = step.getAttribute(attrs.step_id) || "";
    const now = performance.now();
    const key = type + "|" + stepId;
    if (now - (recent.get(key) ?? -Infinity) < DUPLICATE_MS) return;
    recent.set(key, now);
    let internalActions = null;
    try { internalActions = JSON.parse(step.getAttribute(attrs.internal_actions) || "null"); } catch { internalActions = null; }
    const root = step.closest(contract.panel_root);
    const allSteps = root ? Array.from(root.querySelectorAll(contract.step.selector)) : [step];
    report({
      kind: "step",
      type,
      stepId,
      action: {
        targetAction: step.getAttribute(attrs.action) || "",
        refTarget: step.getAttribute(attrs.reftarget) || "",
        targetValue: step.getAttribute(attrs.value),
        targetComment: step.getAttribute(attrs.comment),
        internalActions,
      },
      coordinates: { x: Math.round(event.clientX), y: Math.round(event.clientY) },
      guideUrl: guideOnShow(root),
      stepNumber: allSteps.indexOf(step),
      route: location.pathname + location.search,
      capturedAt: performance.timeOrigin + now,
    });
  }, true);

  let lastGuide = null;
  const checkGuide = () => {
    const root = document.querySelector(contract.panel_root);
    const url = root && !root.hidden ? guideOnShow(root) : null;
    if (url && url !== lastGuide) {
      lastGuide = url;
      report({ kind: "guide", url, route: location.pathname + location.search });
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
