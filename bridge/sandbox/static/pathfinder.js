// The sandbox's imitation of Pathfinder's docs panel, for machines without the built plugin
// (the default `make demo` and `make test`). With `--pathfinder DIST` the sandbox runs the real
// panel instead (bridge/sandbox/host/), and this file is not loaded.
//
// What it imitates, and no more: rendering guides (the real JSON schema) with Pathfinder 2.16's
// step DOM (`.interactive-step`, data-targetaction / data-reftarget / data-targetvalue /
// data-step-id / data-targetcomment / data-internal-actions, data-test-step-state,
// data-test-requirements-state, data-test-fix-type), the buttons each state offers (Show me /
// Do it and their test ids, "Go there", the multistep "Run N steps", "Fix this" / "Retry" /
// "Check again" for a blocked step, nothing for a step waiting on the previous one in its
// section, "Redo" once done), requirement gating, the selector dialect, and Do it (the
// presenter's page must really change for later steps' requirements).
//
// Kept honest by tests/realpanel/test_imitation.py, which renders every sandbox guide with this
// and with the real panel and compares their steps, as opened and as walked to the end.
//
// Not imitated: the highlight (the real panel draws it; our attendees draw theirs with
// bridge/browser/js/replay.js), Live Sessions, when a blocked step is checked again (here every
// 300 ms; the real panel when the URL changes, on Fix this or Retry, so a presenter on the real
// panel sometimes has to press them), a finished section folding away, a met guided block's
// buttons, and everything else of the panel. Class names and attributes come from
// selectors/pathfinder.yaml.
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
    const quoted = `"${value.replace(/"/g, '\\"')}"`;
    return `:is([data-testid=${quoted}], [aria-label=${quoted}])`;
  }

  // Pathfinder's token forms: `{grafana:path:id}` inside a selector, `grafana:path:id` alone.
  function expandTokens(selector) {
    if (selector.includes("{grafana:")) {
      return selector.replace(/\{grafana:([A-Za-z_][\w]*(?:\.\w+)+)(?::([^}]+))?\}/g,
        (_, path, arg) => grafanaCss(path, arg) || "[data-unknown-selector]");
    }
    const whole = /^grafana:([A-Za-z_][\w]*(?:\.\w+)+)(?::(.+))?$/s.exec(selector);
    return whole ? grafanaCss(whole[1], whole[2]) || "[data-unknown-selector]" : selector;
  }

  function resolveAll(selector) {
    let css = expandTokens(selector);
    let nth = null;
    const nthMatch = css.match(/:nth-match\(\s*(\d+)\s*\)\s*$/);
    if (nthMatch) { nth = Number(nthMatch[1]); css = css.slice(0, nthMatch.index); }
    // :contains("x") filters by text (outermost-first, like jQuery); :text("x") by the whole
    // text, trimmed and case-insensitive, as Pathfinder's engine does.
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
        : el.textContent.trim().toLowerCase() === f.text.trim().toLowerCase());
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
    if (name === "exists-reftarget") {
      const target = step.internal ? step.internal[0] : step;
      return !!target && !!findTarget(target.action, target.reftarget);
    }
    if (name === "on-page") return location.pathname.startsWith(arg);
    if (name === "navmenu-open") return !!document.querySelector(grafanaCss("components.NavMenu.Menu"));
    if (name === "has-datasource") return window.sandbox.store.get("datasources", []).some((d) => d.type === arg.toLowerCase());
    return true; // unknown requirements do not block, as in the plugin
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

  // The requirement a blocked step offers to fix, as the real panel does ("Fix this").
  function fixType(requirement) {
    const name = requirement.split(":")[0];
    return name === "navmenu-open" ? "navigation" : name === "on-page" ? "location" : "none";
  }

  async function fix(step) {
    const failing = step.requirements.find((r) => !requirementMet(r, step)) || "";
    const [name, arg] = failing.split(/:(.*)/s);
    if (name === "navmenu-open") document.getElementById("mega-menu-toggle").click();
    if (name === "on-page") window.sandbox.navigate(arg);
    refreshRequirements();
  }

  function stepElement(block, section, index) {
    // As the real panel: a multistep's reftarget is its id; a guided block carries no action.
    const kind = block.type === "multistep" || block.type === "guided" ? block.type : "interactive";
    const inner = kind === "interactive" ? null : block.steps || [];
    const action = kind === "multistep" ? "multistep" : kind === "guided" ? null : block.action;
    const first = inner && inner[0];
    const id = block.id || "step-" + hash([section, index, action || kind, block.reftarget || (first && first.reftarget) || ""].join("|"));
    const reftarget = kind === "multistep" ? id : kind === "guided" ? null : block.reftarget || "";
    const step = { id, kind, action, reftarget, value: block.targetvalue, requirements: block.requirements || [],
      section, previous: section === "root" ? null : steps.filter((s) => s.section === section).pop() || null,
      showMe: block.showMe !== false && kind === "interactive" && action !== "navigate" && action !== "noop",
      doIt: block.doIt !== false && action !== "noop",
      internal: inner && inner.map((s) => ({ action: s.action, reftarget: s.reftarget, targetvalue: s.targetvalue })) };
    const el = h("div", {
      class: contract.step.selector.split(".").slice(1).join(" ") + (kind === "guided" ? " interactive-guided" : ""),
      [attrs.action]: action, [attrs.reftarget]: reftarget, [attrs.value]: block.targetvalue,
      // The real panel renders the tooltip's markdown as HTML here.
      [attrs.comment]: block.tooltip ? `<p>${block.tooltip.replace(/&/g, "&amp;").replace(/</g, "&lt;")}</p>\n` : null,
      [attrs.internal_actions]: kind === "multistep" ? JSON.stringify(inner.map((s) => ({
        targetAction: s.action, refTarget: s.reftarget, targetValue: s.targetvalue,
        requirements: (s.requirements || []).join(",") || undefined }))) : null,
      [attrs.step_id]: id, "data-testid": contract.step.testid_prefix + id, [attrs.state]: "idle",
    }, h("div", { class: "interactive-step-content" }, block.content || ""));
    step.buttons = h("div", { class: "interactive-step-action-buttons" });
    el.append(step.buttons);
    step.el = el;
    steps.push(step);
    return el;
  }

  // The buttons the real panel shows for a step in each state: Show me / Do it while its
  // requirements are met; a blocked step offers "Fix this" (a fixable requirement) or "Retry",
  // a guided block "Check again", and a step waiting for the previous one in its section, or a
  // blocked multistep, nothing; a completed step offers "Redo".
  function renderButtons(step, view) {
    const id = step.id;
    if (step.view === view + ":" + step.fix) return;
    step.view = view + ":" + step.fix;
    const button = (testid, className, label, onclick) =>
      h("button", { class: className, "data-testid": testid, onclick }, label);
    let buttons = [];
    if (view === "completed") {
      buttons = [button("interactive-redo-" + id, "", "↻ Redo", () => {
        step.el.setAttribute(attrs.state, "idle");
        refreshRequirements();
      })];
    } else if (view === "met") {
      if (step.showMe)
        buttons.push(button(contract.show_button.testid_prefix + id, contract.show_button.class, "Show me", () => showMe(step)));
      if (step.doIt)
        buttons.push(button(contract.do_button.testid_prefix + id,
          step.kind === "interactive" ? contract.do_button.class : "interactive-guided-start-btn",
          step.kind === "multistep" ? `▶ Run ${step.internal.length} steps` : step.kind === "guided" ? "Start"
            : step.action === "navigate" ? "Go there" : "Do it",
          () => performStep(step)));
    } else if (view === "blocked") {
      if (step.kind === "guided")
        buttons = [button("interactive-requirement-retry-" + id, "interactive-guided-fix-btn", "Check again", refreshRequirements)];
      else if (step.kind === "interactive") {
        const offer = step.fix === "none" ? "retry" : "fix";
        buttons = [button(`interactive-requirement-${offer}-${id}`, "interactive-requirement-retry-btn",
          offer === "fix" ? "Fix this" : "Retry", () => (offer === "fix" ? fix(step) : refreshRequirements()))];
      }
    }
    step.buttons.replaceChildren(...buttons);
  }

  // Show me of a step without Do it completes it, as the real panel does.
  function showMe(step) {
    if (!step.doIt) {
      step.el.setAttribute(attrs.state, "completed");
      refreshRequirements();
    }
  }

  async function performStep(step) {
    const el = step.el;
    el.setAttribute(attrs.state, "executing");
    try {
      if (step.action === "multistep") {
        for (const inner of step.internal) {
          await perform(inner.action, inner.reftarget, inner.targetvalue);
          await new Promise((r) => setTimeout(r, 150));
        }
      } else if (step.action) {
        await perform(step.action, step.reftarget, step.value);
      }
      el.setAttribute(attrs.state, "completed");
    } catch (error) {
      el.setAttribute(attrs.state, "error");
      el.title = String(error.message || error);
    }
    refreshRequirements();
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
      if (state === "completed") {
        // As the real panel: a done step is no longer enabled, whatever its requirements.
        step.fix = "none";
        step.el.setAttribute("data-test-requirements-state", "unmet");
        if (step.kind === "interactive") step.el.setAttribute("data-test-fix-type", "none");
        renderButtons(step, "completed");
        continue;
      }
      if (state === "executing" || state === "error") continue;
      const eligible = !step.previous || step.previous.el.getAttribute(attrs.state) === "completed";
      const failing = eligible ? step.requirements.find((r) => !requirementMet(r, step)) : "previous";
      step.fix = failing && eligible ? fixType(failing) : "none";
      step.el.setAttribute(attrs.state, failing ? "requirements-unmet" : "idle");
      step.el.setAttribute("data-test-requirements-state", failing ? "unmet" : "met");
      if (step.kind === "interactive") step.el.setAttribute("data-test-fix-type", step.fix);
      renderButtons(step, !failing ? "met" : eligible && step.kind !== "multistep" ? "blocked" : "waiting");
    }
  }
  setInterval(refreshRequirements, 300);
  window.addEventListener("sandbox:render", () => setTimeout(refreshRequirements, 0));

  // -- the panel ------------------------------------------------------------------------------------------
  // A sandbox guide by any of its names: its URL, or the real panel's `backend-guide:ID` / `api:ID`.
  function guideIdFromUrl(url) {
    const match = /\/guides\/([a-z0-9-]+)/.exec(url || "") || /^(?:backend-guide|api):([a-z0-9-]+)$/.exec(url || "");
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
    // The guide keeps the name it was opened by (a URL, or `backend-guide:ID`), as the real
    // panel's tab does: that is what a presenter announces.
    current = { url, guide };
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
