// pathfinder-bridge capture, run in an isolated world of the presenter's Grafana tab on every
// page and reload: it shares the page's DOM, not its scripts, and no frame's scripts can reach
// its reports. A capture-phase click listener finds Show me / Do it buttons (by
// the step's button classes, so every step kind is seen) and tells Python which step was
// clicked; Python reads the step itself back from the docs panel (a report is only a hint).
// Also reports when the guide on show and the page route change. Attendees never run it.
(() => {
  "use strict";
  if (window.top !== window || window.__pathfinderBridgeCapture_installed) return;
  window.__pathfinderBridgeCapture_installed = true;
  const contract = window.__pathfinderBridgeContract;
  // Reports wait in this world until Python asks for them: ActionCapture long-polls
  // `__pathfinderBridgeCaptureNext` with Runtime.evaluate and enables no CDP domain, so nothing
  // the page does (console messages, frames coming and going) is streamed to Python. A test may
  // give a binding instead (one string argument), which then gets every report at once.
  const binding = window.__pathfinderBridgeCapture;
  const MAX_QUEUED = 64; // capture.py's MAX_QUEUED_REPORTS
  // Each report is numbered and kept until a reader says it has it, so a wait that Python gives
  // up on loses nothing.
  let queue = [];
  let numbered = 0;
  let dropped = 0; // since this document began
  let wake = null;
  const report = (payload) => {
    if (typeof binding === "function") return binding(JSON.stringify(payload));
    if (queue.length < MAX_QUEUED) queue.push([++numbered, payload]);
    else dropped++;
    if (wake) wake();
  };
  // This document's name: numbers count anew in each document, and execution context ids do
  // not tell documents apart (Chromium counts them anew in each renderer process).
  const documentName = `${performance.timeOrigin}:${Math.random().toString(36).slice(2)}`;
  // The reports numbered above `after` (counted in document `name`; from the start when that
  // is another document), at once when there are some, else at the next one or after
  // `waitMs`: one JSON string {document, reports: [[number, report], ...], dropped}.
  window.__pathfinderBridgeCaptureNext = (name, after, waitMs) => new Promise((resolve) => {
    if (wake) wake(); // one reader: a previous wait ends now
    const seen = name === documentName ? after : 0;
    queue = queue.filter(([number]) => number > seen);
    const take = () => {
      clearTimeout(timer);
      wake = null;
      resolve(JSON.stringify({ document: documentName, reports: queue, dropped }));
    };
    const timer = setTimeout(take, waitMs);
    if (queue.length) take();
    else wake = take;
  });
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
  // The real panel's tab writes happen in the same page (no storage event) and through the page's
  // own Storage object (not ours, in this world): a render re-checks at once and a moment later
  // (the write may follow the render), and a slow poll catches a write with no render at all.
  let recheck = 0;
  const start = () => {
    checkRoute();
    new MutationObserver(() => {
      checkRoute();
      checkGuide();
      clearTimeout(recheck);
      recheck = setTimeout(checkGuide, 100);
    }).observe(document.documentElement, {
      subtree: true, childList: true, attributes: true, attributeFilter: [contract.guide_attribute, "hidden"],
    });
    setInterval(checkGuide, 1000);
    checkGuide();
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
