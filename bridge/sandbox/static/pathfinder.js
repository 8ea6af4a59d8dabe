// The sandbox's Pathfinder-like docs panel: renders guides in the real JSON schema with
// Pathfinder 2.16's step DOM, gates buttons on requirements, and performs Show me / Do it
// with its own selector-dialect resolver (independent of pathfinder-bridge's, as the real
// plugin is). Class names and attributes come from selectors/pathfinder.yaml.
(() => {
  "use strict";
  const contract = window.__sandboxContract;
  const attrs = contract.step.attributes;
  const table = window.__sandboxSelectors;
  const { h } = window.sandbox;

  // -- the selector dialect, as the plugin resolves it ------------------------------------------
  function grafanaCss(path, arg) {
    let value = table[path];
    if (value === undefined) return null;
    if (arg !== undefined) value = value.split("{0}").join(arg);
    const attribute = value.startsWith("data-testid") ? "data-testid" : "aria-label";
    return `[${attribute}="${value.replace(/"/g, '\\"')}"]`;
  }

  function resolveAll(selector) {
    let css = selector.replace(/grafana:([A-Za-z_][\w]*(?:\.\w+)+)(?:\(([^()]*)\))?/g,
      (_, path, arg) => grafanaCss(path, arg === undefined ? undefined : arg.trim().replace(/^['"]|['"]$/g, "")) || "[data-unknown-selector]");
    let nth = null;
    const nthMatch = css.match(/:nth-match\(\s*(\d+)\s*\)\s*$/);
    if (nthMatch) { nth = Number(nthMatch[1]); css = css.slice(0, nthMatch.index); }
    // :contains("x") and :text("x") filter by text, outermost-first like jQuery.
    const filters = [];
    css = css.replace(/:(contains|text)\(\s*(?:"([^"]*)"|'([^']*)'|([^)]*))\s*\)/g, (_, kind, a, b, c) => {
      filters.push({ kind, text: a ?? b ?? c });
      return "";
    });
    let found;
    try { found = Array.from(document.querySelectorAll(css || "*")); } catch { return []; }
    for (const f of filters) {
      found = found.filter((el) => f.kind === "contains"
        ? el.textContent.includes(f.text)
        : el.textContent.trim().toLowerCase().includes(f.text.toLowerCase()));
    }
    found = found.filter((el) => !el.closest(contract.panel_root));
    if (nth !== null) return found[nth - 1] ? [found[nth - 1]] : [];
    return found;
  }

  function findButton(text) {
    if (/[\[\]#.>:=~+*"']/.test(text) || text.startsWith("grafana:")) return resolveAll(text)[0] || null;
    const buttons = Array.from(document.querySelectorAll("button")).filter((b) => !b.closest(contract.panel_root));
    const wanted = text.trim().toLowerCase();
    return buttons.find((b) => b.textContent.trim().toLowerCase() === wanted)
      || buttons.find((b) => b.textContent.trim().toLowerCase().includes(wanted)) || null;
  }

  function findTarget(action, reftarget) {
    return action === "button" ? findButton(reftarget) : resolveAll(reftarget)[0] || null;
  }

  // -- requirements ------------------------------------------------------------------------------
  function requirementMet(requirement, step) {
    const [name, arg] = requirement.split(/:(.*)/s);
    if (name === "exists-reftarget") return !!findTarget(step.action, step.reftarget);
    if (name === "on-page") return location.pathname.startsWith(arg);
    if (name === "navmenu-open") return !!document.querySelector(grafanaCss("components.NavMenu.Menu"));
    if (name === "has-datasource") return window.sandbox.store.get("datasources", []).some((d) => d.type === arg.toLowerCase());
    return true; // unknown requirements do not block, as in the plugin
  }

  // -- highlight -----------------------------------------------------------------------------------
  const hl = contract.highlight;
  let clearHighlight = () => {};
  function highlight(el, comment, step) {
    clearHighlight();
    const rect = el.getBoundingClientRect();
    const tiny = rect.width < 10 || rect.height < 10;
    const box = h("div", { class: tiny ? hl.dot_class : hl.outline_class });
    Object.assign(box.style, tiny
      ? { position: "fixed", left: rect.left + rect.width / 2 - 8 + "px", top: rect.top + rect.height / 2 - 8 + "px", zIndex: hl.z_index, pointerEvents: "none" }
      : { position: "fixed", left: rect.left - hl.margin_px + "px", top: rect.top - hl.margin_px + "px",
          width: rect.width + 2 * hl.margin_px + "px", height: rect.height + 2 * hl.margin_px + "px", zIndex: hl.z_index, pointerEvents: "none" });
    document.body.append(box);
    let note = null;
    if (comment) {
      note = h("div", { class: hl.comment_class, "data-test-action": step.action, "data-test-reftarget": step.reftarget }, comment);
      Object.assign(note.style, { position: "fixed", left: rect.left + "px", top: rect.bottom + hl.dot_below_px + "px", zIndex: hl.z_index });
      document.body.append(note);
    }
    const timer = setTimeout(() => clearHighlight(), 6000);
    clearHighlight = () => { clearTimeout(timer); box.remove(); note?.remove(); clearHighlight = () => {}; };
  }

  // -- do it ------------------------------------------------------------------------------------------
  function setNativeValue(el, value) {
    // What Pathfinder does for React inputs: the prototype's setter, then an input event.
    const proto = el instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
    Object.getOwnPropertyDescriptor(proto, "value").set.call(el, value);
    el.dispatchEvent(new Event("input", { bubbles: true }));
    el.dispatchEvent(new Event("change", { bubbles: true }));
  }

  async function perform(action, reftarget, value) {
    if (action === "navigate") { window.sandbox.navigate(reftarget); return; }
    if (action === "noop") return;
    const el = findTarget(action, reftarget);
    if (!el) throw new Error("target not found: " + reftarget);
    if (action === "highlight" || action === "button") el.click();
    else if (action === "hover") {
      el.dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
      el.dispatchEvent(new MouseEvent("mouseenter"));
    } else if (action === "formfill") {
      const input = el.matches("input, textarea") ? el : el.querySelector("textarea, input");
      if (!input) throw new Error("no input in " + reftarget);
      input.focus();
      setNativeValue(input, value || "");
    }
  }

  // -- rendering the guide --------------------------------------------------------------------------
  function hash(text) {
    let x = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) { x ^= text.charCodeAt(i); x = Math.imul(x, 0x01000193) >>> 0; }
    return x.toString(16).padStart(8, "0");
  }

  let current = null; // {url, guide}
  const steps = [];

  function stepElement(block, section, index) {
    const action = block.type === "multistep" ? "multistep" : block.type === "guided" ? "guided" : block.action;
    const reftarget = block.reftarget || "";
    const id = block.id || "step-" + hash([section, index, action, reftarget].join("|"));
    const step = { id, action, reftarget, value: block.targetvalue, comment: block.comment,
      requirements: block.requirements || [], internal: block.steps || null };
    const showLabel = "Show me";
    const doLabel = action === "navigate" ? "Go there" : action === "multistep" ? "Do section" : action === "guided" ? "Guide me" : "Do it";
    const el = h("div", {
      class: contract.step.selector.split(".").slice(1).join(" "),
      [attrs.action]: action, [attrs.reftarget]: reftarget, [attrs.value]: block.targetvalue,
      [attrs.comment]: block.comment, [attrs.step_id]: id, [attrs.requirements]: step.requirements.join(",") || null,
      [attrs.internal_actions]: step.internal ? JSON.stringify(step.internal.map((s) => ({
        targetAction: s.action, refTarget: s.reftarget, targetValue: s.targetvalue, requirements: (s.requirements || []).join(",") || undefined }))) : null,
      "data-testid": contract.step.testid_prefix + id, [attrs.state]: "idle",
    }, h("div", { class: "step-text" }, block.content || ""));
    const buttons = h("div", { class: "step-buttons" });
    if (block.showMe !== false && action !== "navigate" && action !== "multistep" && action !== "noop")
      buttons.append(h("button", { class: contract.show_button.class, "data-testid": contract.show_button.testid_prefix + id,
        onclick: () => showMe(step, el) }, showLabel));
    if (block.doIt !== false)
      buttons.append(h("button", { class: contract.do_button.class, "data-testid": contract.do_button.testid_prefix + id,
        onclick: () => doIt(step, el) }, doLabel));
    el.append(buttons);
    step.el = el;
    steps.push(step);
    return el;
  }

  function showMe(step, el) {
    const target = step.action === "multistep"
      ? findTarget(step.internal[0].action, step.internal[0].reftarget) : findTarget(step.action, step.reftarget);
    if (target) highlight(target, step.comment, step);
    else el.setAttribute(attrs.state, "error");
  }

  async function doIt(step, el) {
    el.setAttribute(attrs.state, "executing");
    try {
      if (step.action === "multistep") {
        for (const inner of step.internal) {
          await perform(inner.action, inner.reftarget, inner.targetvalue);
          await new Promise((r) => setTimeout(r, 150));
        }
      } else if (step.action !== "guided") {
        await perform(step.action, step.reftarget, step.value);
      }
      el.setAttribute(attrs.state, "completed");
    } catch (error) {
      el.setAttribute(attrs.state, "error");
      el.title = String(error.message || error);
    }
  }

  function renderBlocks(blocks, section) {
    return blocks.map((block, index) => {
      if (block.type === "markdown") return h("div", { class: "markdown" }, block.content);
      if (block.type === "section") return h("section", { class: "guide-section" }, h("h3", {}, block.title),
        renderBlocks(block.blocks || [], block.id || block.title));
      return stepElement(block, section, index);
    });
  }

  function refreshRequirements() {
    for (const step of steps) {
      const state = step.el.getAttribute(attrs.state);
      if (state === "executing" || state === "completed" || state === "error") continue;
      const met = step.requirements.every((r) => requirementMet(r, step));
      step.el.setAttribute(attrs.state, met ? "idle" : "requirements-unmet");
      for (const button of step.el.querySelectorAll("button")) button.disabled = !met;
    }
  }
  setInterval(refreshRequirements, 300);
  window.addEventListener("sandbox:render", () => setTimeout(refreshRequirements, 0));

  // -- the panel ------------------------------------------------------------------------------------------
  function guideIdFromUrl(url) {
    const match = /\/guides\/([a-z0-9-]+)/.exec(url || "");
    return match ? match[1] : null;
  }

  async function open(url) {
    const root = ensureRoot();
    root.hidden = false;
    const id = guideIdFromUrl(url);
    if (!id) { renderList(root); return; }
    const response = await fetch("/api/guides/" + id + ".json");
    if (!response.ok) { root.replaceChildren(h("p", {}, "Guide not found: " + url)); return; }
    const guide = await response.json();
    current = { url: location.origin + "/guides/" + id, guide };
    steps.length = 0;
    root.setAttribute(contract.guide_attribute, current.url);
    root.replaceChildren(
      h("div", { class: "panel-header" }, h("h2", {}, guide.title),
        h("button", { class: "link", onclick: () => { current = null; root.removeAttribute(contract.guide_attribute); renderList(root); } }, "All guides")),
      h("div", { class: "guide" }, renderBlocks(guide.blocks, "root")));
    refreshRequirements();
  }

  async function renderList(root) {
    const guides = await (await fetch("/api/guides")).json();
    root.replaceChildren(h("div", { class: "panel-header" }, h("h2", {}, "Interactive guides")),
      h("ul", { class: "guide-list" }, guides.map((g) =>
        h("li", {}, h("button", { class: "link", "data-guide": g.id, onclick: () => open("/guides/" + g.id) }, g.title)))));
  }

  function ensureRoot() {
    let root = document.querySelector(contract.panel_root);
    if (!root) {
      root = h("aside", { class: "docs-panel", "data-testid": "docs-panel-container", hidden: true });
      document.body.append(root);
    }
    return root;
  }

  window.pathfinderPanel = {
    open,
    toggle() {
      const root = ensureRoot();
      if (root.hidden) { root.hidden = false; if (!current) renderList(root); } else root.hidden = true;
    },
    get guideUrl() { return current && current.url; },
  };
})();
