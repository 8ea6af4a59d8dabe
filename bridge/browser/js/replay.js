// pathfinder-bridge replay overlay, injected into each attendee's Grafana. Draws Pathfinder's
// highlight over an element Python has located: an outline 4 px outside its rectangle (a dot
// for tiny or hidden elements), a comment box when the step has one; it follows the element
// while it moves and is cleared by the next event. It never evaluates anything it is sent.
(() => {
  "use strict";
  if (window.__pathfinderBridgeReplay) return;
  const contract = window.__pathfinderBridgeContract;
  const readGuide = window.__pathfinderBridgeReadGuide; // js/guide_steps.js
  const hl = contract.highlight;
  let current = null;

  function clear() {
    if (!current) return;
    cancelAnimationFrame(current.frame);
    current.box.remove();
    current.note?.remove();
    current = null;
  }

  function place(state) {
    const { el, box, note } = state;
    if (!el.isConnected) { clear(); return; }
    const rect = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    const tiny = rect.width < 10 || rect.height < 10 || style.visibility === "hidden" || style.display === "none";
    box.className = tiny ? hl.dot_class : hl.outline_class;
    if (tiny) {
      Object.assign(box.style, { left: rect.left + rect.width / 2 - 8 + "px", top: rect.top + rect.height / 2 - 8 + "px",
        width: "16px", height: "16px" });
    } else {
      Object.assign(box.style, { left: rect.left - hl.margin_px + "px", top: rect.top - hl.margin_px + "px",
        width: rect.width + 2 * hl.margin_px + "px", height: rect.height + 2 * hl.margin_px + "px" });
    }
    if (note) Object.assign(note.style, { left: rect.left + "px", top: rect.bottom + hl.dot_below_px + "px" });
    state.frame = requestAnimationFrame(() => place(state));
  }

  function highlight(el, options) {
    clear();
    const box = document.createElement("div");
    Object.assign(box.style, { position: "fixed", zIndex: String(hl.z_index), pointerEvents: "none",
      border: "2px solid #ff8833", borderRadius: "4px", boxSizing: "border-box" });
    box.dataset.pathfinderBridge = "highlight";
    document.body.append(box);
    let note = null;
    if (options && options.comment) {
      note = document.createElement("div");
      note.className = hl.comment_class;
      // Pathfinder's step carries the tooltip as HTML (its markdown, rendered); show its text,
      // never its markup (a parsed document is inert: nothing in it runs).
      note.textContent = new DOMParser().parseFromString(options.comment, "text/html").body.textContent.trim();
      note.setAttribute("data-test-action", options.action || "");
      note.setAttribute("data-test-reftarget", options.reftarget || "");
      Object.assign(note.style, { position: "fixed", zIndex: String(hl.z_index), pointerEvents: "none" });
      document.body.append(note);
    }
    current = { el, box, note, frame: 0 };
    place(current);
    return box.className;
  }

  // A short readable label: what a person would call this element, and the names it goes by
  // (an icon button may have no text, only an aria-label, a title or a test id).
  function labelOf(node) {
    if (!node || !node.getAttribute) return "";
    const by = (node.getAttribute("aria-labelledby") || "").split(/\s+/)
      .map((id) => id && document.getElementById(id)?.textContent).filter(Boolean).join(" ");
    const parts = [node.getAttribute("aria-label"), by, node.getAttribute("title"), node.getAttribute("alt"),
      (node.textContent || "").trim(), typeof node.value === "string" ? node.value : "",
      node.getAttribute("data-testid"), node.id, node.getAttribute("name")];
    return parts.filter(Boolean).join(" ").replace(/\s+/g, " ").slice(0, 200);
  }

  // The control a click on `node` activates: the nearest button, link, menu item, submit
  // input or other role that acts, and for a label, the control it is for. A Do it aimed at
  // an icon inside "Delete dashboard" activates "Delete dashboard".
  const CONTROLS = "button, a[href], area[href], summary, label, select, " +
    "input[type=submit], input[type=button], input[type=image], input[type=reset], " +
    "input[type=checkbox], input[type=radio], [role=button], [role=link], [role=menuitem], " +
    "[role=menuitemcheckbox], [role=menuitemradio], [role=option], [role=tab], [role=switch], " +
    "[role=checkbox], [role=radio], [onclick]";
  function controlsOf(node) {
    const control = node && node.closest ? node.closest(CONTROLS) : null;
    if (!control) return [];
    return control.matches("label") && control.control ? [control, control.control] : [control];
  }

  // What a trusted click at the element's centre would hit, whether that is the element, and
  // where that click would lead: the link or the form submission of what is actually hit
  // (a link inside a clicked container counts), so Python can refuse one that leaves.
  function hitTest(el) {
    if (!el.isConnected) return { ok: false, stale: true };
    const rect = el.getBoundingClientRect();
    if (rect.width === 0 && rect.height === 0) return { ok: false, stale: true };
    const x = rect.left + rect.width / 2;
    const y = rect.top + rect.height / 2;
    const hit = document.elementFromPoint(x, y);
    const ok = !!hit && (hit === el || el.contains(hit) || hit.contains(el));
    const describe = (node) => node ? node.tagName.toLowerCase() + (node.id ? "#" + node.id : "") +
      (typeof node.className === "string" && node.className ? "." + node.className.trim().split(/\s+/).join(".") : "") : "nothing";
    const clicked = hit || el;
    const link = clicked.closest("a[href], area[href]");
    const submitter = clicked.closest("button, input[type=submit], input[type=image]");
    const submits = submitter && submitter.form && (submitter.type === "submit" || submitter.type === "image");
    // formAction reads as the document's URL when the button has no formaction of its own.
    const action = submits ? (submitter.hasAttribute("formaction") ? submitter.formAction : submitter.form.action) : null;
    // Everything the click is about: the element aimed at, what is hit, and the control
    // that acts (an ancestor of either); the destructive-words rule reads all of it.
    const named = [el, hit && hit !== el && el.contains(hit) ? hit : null,
      ...controlsOf(clicked), ...controlsOf(el)];
    const label = [...new Set(named.filter(Boolean))].map(labelOf).filter(Boolean).join(" ");
    const opensIn = (link ? link.target : submits ? submitter.formTarget || submitter.form.target : "") || "";
    const newTab = !["", "_self", "_top", "_parent"].includes(opensIn.toLowerCase());
    return { ok, stale: false, x, y, hit: describe(hit), href: link ? link.href : null,
      form: action, newTab, label: label.slice(0, 600),
      disabled: !!(el.disabled || el.closest("[aria-disabled='true']")) };
  }

  // What kind of input this is, for formfill: plain, or a container (Monaco-like) whose
  // real input is a descendant.
  function inputKind(el) {
    if (el.matches("input, textarea, select")) return "input";
    if (el.isContentEditable) return "contenteditable";
    if (el.querySelector("textarea, input")) return "container";
    return "none";
  }

  function readValue(el) {
    const input = el.matches("input, textarea, select") ? el : el.querySelector("textarea, input");
    return input ? input.value : el.textContent;
  }

  // The guide the docs panel shows, and a stamp of it (a hash of its steps as read): Python plans
  // with the guide it read last and passes that stamp to the calls below, which answer
  // {stale: true} before touching anything when the panel has changed since.
  function stampOf(guide) {
    if (!guide) return "none";
    const text = JSON.stringify(guide);
    let x = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) { x ^= text.charCodeAt(i); x = Math.imul(x, 0x01000193) >>> 0; }
    return text.length + ":" + x.toString(16);
  }
  function guide() {
    const shown = readGuide(contract);
    return { guide: shown, stamp: stampOf(shown) };
  }
  const changedSince = (stamp) => typeof stamp === "string" && stampOf(readGuide(contract)) !== stamp;

  // The fast path for plain CSS targets: wait for the first match to be visible (as
  // Pathfinder's querySelector would find it), then draw or aim in the same call.
  function isVisible(el) {
    const rect = el.getBoundingClientRect();
    if (rect.width === 0 && rect.height === 0) return false;
    return getComputedStyle(el).visibility !== "hidden";
  }

  // query: {css, contains}: Pathfinder's `css:contains(text)` is a text filter on the matches
  // (case-insensitive, as Pathfinder's).
  async function waitFor(query, timeoutMs) {
    const deadline = performance.now() + timeoutMs;
    const wanted = query.contains === null ? null : query.contains.toLowerCase();
    for (;;) {
      let all;
      try { all = Array.from(document.querySelectorAll(query.css)); } catch { return { error: "bad selector" }; }
      if (wanted !== null) all = all.filter((el) => (el.textContent || "").toLowerCase().includes(wanted));
      const el = all[0];
      if (el && isVisible(el)) return { el, count: all.length };
      if (performance.now() >= deadline) return { error: "timeout" };
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  function ensureInView(el) {
    const rect = el.getBoundingClientRect();
    if (rect.bottom < 0 || rect.right < 0 || rect.top > innerHeight || rect.left > innerWidth) {
      el.scrollIntoView({ block: "center", inline: "center" });
    }
  }

  async function highlightSelector(selector, options, timeoutMs, stamp) {
    if (changedSince(stamp)) return { ok: false, stale: true };
    const found = await waitFor(selector, timeoutMs);
    if (found.error) return { ok: false, reason: found.error };
    ensureInView(found.el);
    return { ok: true, count: found.count, drawn: highlight(found.el, options) };
  }

  async function aimSelector(selector, timeoutMs, stamp) {
    if (changedSince(stamp)) return { found: false, stale: true };
    const found = await waitFor(selector, timeoutMs);
    if (found.error) return { ok: false, reason: found.error };
    clear();
    ensureInView(found.el);
    return { ...hitTest(found.el), count: found.count, found: true };
  }

  // Cross-document navigations this page starts (links, forms, scripts): after acting, Python
  // waits for their outcome (committed at home, or blocked) before it reports a result.
  let started = [];
  if (window.navigation) {
    window.navigation.addEventListener("navigate", (event) => {
      if (!event.destination.sameDocument) started.push(event.destination.url);
    });
  }
  function takeNavigations() {
    const taken = started;
    started = [];
    return taken;
  }

  // In-app navigation to a path Python has already checked, as a router link does.
  function navigate(path) {
    history.pushState({}, "", path);
    dispatchEvent(new PopStateEvent("popstate"));
  }

  window.__pathfinderBridgeReplay = {
    highlight, clear, hitTest, inputKind, readValue, navigate, highlightSelector, aimSelector,
    takeNavigations, guide,
  };
})();
