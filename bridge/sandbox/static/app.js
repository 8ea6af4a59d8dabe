// The sandbox: a single-page app with Grafana's DOM contract (selectors from the generated
// table of the version it runs as), for the demo and the tests. Not Grafana: it reproduces
// what Pathfinder guides and pathfinder-bridge rely on, including the awkward parts (an
// overlay that covers targets, late rendering, re-mounted nodes, disabled buttons, a
// React-style controlled input, a Monaco-like editor).
(() => {
  "use strict";
  const boot = window.grafanaBootData;
  const table = window.__sandboxSelectors;

  // Attributes for one e2e-selectors leaf: a "data-testid ..." value is the whole testid,
  // anything else is an aria-label, as Grafana's own components render them.
  function sel(path, arg) {
    let value = table[path];
    if (value === undefined) throw new Error("unknown selector " + path);
    if (arg !== undefined) value = value.split("{0}").join(arg);
    return value.startsWith("data-testid") ? { "data-testid": value } : { "aria-label": value };
  }

  // A tiny element builder: h("button", {class: "x", onclick: f}, "text", child...)
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else if (key === "sel") for (const [k, v] of Object.entries(value)) el.setAttribute(k, v);
      else if (key === "value") el.value = value;
      else el.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  const store = {
    get(key, fallback) {
      try { return JSON.parse(localStorage.getItem("sandbox." + key)) ?? fallback; } catch { return fallback; }
    },
    set(key, value) { localStorage.setItem("sandbox." + key, JSON.stringify(value)); },
  };

  const state = {
    menuOpen: false,
    editor: null, // the panel editor's controlled state: {title, query}
  };

  // -- routing ---------------------------------------------------------------------------------
  function navigate(path) {
    if (path === location.pathname + location.search) return;
    // With the real panel, its host routes through Grafana's locationService (which
    // re-renders the page), so the plugin and the page agree on where they are.
    if (window.sandbox.router) { window.sandbox.router(path); return; }
    history.pushState({}, "", path);
    render();
  }
  window.addEventListener("popstate", render);
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[href^='/']");
    if (link && !event.defaultPrevented && link.target !== "_blank") {
      event.preventDefault();
      navigate(link.getAttribute("href"));
    }
  });

  const NAV = [
    { text: "Home", href: "/" },
    { text: "Dashboards", href: "/dashboards" },
    { text: "Explore", href: "/explore" },
    { text: "Connections", href: "/connections/datasources" },
    { text: "Add new connection", href: "/connections/datasources/new" },
  ];

  function shell(main) {
    const header = h("header", { class: "topbar", sel: sel("components.NavToolbar.container") },
      h("button", { id: "mega-menu-toggle", class: "icon", sel: sel("components.NavBar.Toggle.button"),
        onclick: () => { state.menuOpen = !state.menuOpen; render(); } }, "☰"),
      h("span", { class: "brand" }, "Grafana ", h("small", {}, "sandbox " + boot.settings.buildInfo.version)),
      h("span", { class: "spacer" }),
      h("button", { id: "dock-menu-button", class: "icon", "aria-label": "Dock menu" }, "⇤"),
      h("button", { class: "icon", "aria-label": "Help", onclick: () => window.pathfinderPanel.toggle() }, "?"),
    );
    // The mega menu is re-created on every render, as React re-mounts it. Its shape is
    // Grafana's (MegaMenu): a div with the menu's test id around a nav and the list
    // labelled Navigation, which is what Pathfinder's navmenu-open check looks for.
    const menu = state.menuOpen
      ? h("div", { class: "mega-menu", sel: sel("components.NavMenu.Menu") },
          h("nav", {}, h("ul", { "aria-label": "Navigation" }, NAV.map((item) => h("li", {},
            h("a", { href: item.href, sel: sel("components.NavMenu.item"),
              class: location.pathname === item.href ? "active" : null }, item.text))))))
      : null;
    return [header, h("div", { class: "body" }, menu, h("main", { id: "main" }, main))];
  }

  // -- pages ---------------------------------------------------------------------------------------
  function home() {
    return h("section", { class: "page" }, h("h1", {}, "Welcome to Grafana"),
      h("p", {}, "Open Help (?) for interactive guides."),
      h("div", { class: "cards" },
        h("a", { class: "card", href: "/dashboards" }, "Dashboards"),
        h("a", { class: "card", href: "/explore" }, "Explore"),
        h("a", { class: "card", href: "/connections/datasources/new" }, "Add your first data source")));
  }

  function dashboards() {
    const saved = store.get("dashboards", []);
    const page = h("section", { class: "page" },
      h("div", { class: "page-header" }, h("h1", {}, "Dashboards"),
        h("div", { class: "menu-host" },
          h("button", { class: "primary", onclick: (e) => e.currentTarget.nextElementSibling.toggleAttribute("hidden") }, "New"),
          h("div", { class: "dropdown", hidden: true, role: "menu" },
            h("a", { href: "/dashboard/new", role: "menuitem" }, "New dashboard"),
            h("a", { href: "/dashboard/import", role: "menuitem" }, "Import")))),
      h("ul", { class: "list" }, saved.length ? saved.map((d) =>
        h("li", { sel: sel("pages.Dashboards.dashboards", d.title) }, h("a", { href: "/d/" + d.uid }, d.title)))
        : h("li", { class: "empty" }, "No dashboards yet")));
    // An overlay that covers the page until dismissed, as Grafana's "What's new" does.
    if (!sessionStorage.getItem("sandbox.whatsNewSeen")) {
      page.append(h("div", { class: "overlay", role: "dialog", "aria-label": "What's new" },
        h("div", { class: "overlay-box" }, h("h2", {}, "What's new in dashboards"),
          h("p", {}, "Dashboards got faster."),
          h("button", { class: "primary", onclick: () => { sessionStorage.setItem("sandbox.whatsNewSeen", "1"); render(); } }, "Got it"))));
    }
    return page;
  }

  // The panel editor has its own URL (?editPanel=1), as Grafana's does: Pathfinder re-checks a
  // step whose target is missing when the URL changes, so an editor opened in place would
  // leave the next step blocked whenever that check ran before the editor opened.
  function newDashboard() {
    if (!new URLSearchParams(location.search).has("editPanel")) {
      return h("section", { class: "page" }, h("h1", {}, "New dashboard"),
        h("div", { class: "empty-dashboard" },
          h("p", {}, "Start your new dashboard by adding a visualization"),
          h("button", { class: "primary", sel: sel("pages.AddDashboard.addNewPanel"),
            onclick: () => { state.editor = { title: "", query: "" }; navigate("/dashboard/new?editPanel=1"); } },
            "Add visualization"),
          h("button", { sel: sel("pages.AddDashboard.addNewRow") }, "Add row")));
    }
    if (!state.editor) state.editor = { title: "", query: "" };
    const editor = state.editor;
    // A React-style controlled input: the DOM value always comes back from state, so a
    // value written without an input event is reverted by the next render.
    const title = h("input", { id: "panel-title", name: "title", value: editor.title, autocomplete: "off",
      sel: sel("components.PanelEditor.OptionsPane.fieldInput", "Title"),
      oninput: (e) => { editor.title = e.target.value; rerenderSoon(); },
      // A real blur re-renders (React does on change); a blur from being re-mounted must not.
      onblur: () => { if (!rendering) rerenderSoon(); } });
    const save = h("button", { class: "primary", sel: sel("components.NavToolbar.editDashboard.saveButton"),
      disabled: !editor.title.trim(), onclick: saveDashboard }, "Save dashboard");
    return h("section", { class: "page editor" },
      h("div", { class: "page-header" }, h("h1", {}, "Edit panel"), save),
      h("label", { for: "panel-title" }, "Title"), title,
      h("label", {}, "Query"), monaco(editor),
      h("div", { class: "panel-preview", sel: sel("components.Panels.Panel.title", editor.title || "New panel") },
        h("h3", {}, editor.title || "New panel"), h("pre", {}, editor.query || "(no query)")));
  }

  // A Monaco-like editor: a hidden textarea takes input; lines are drawn elsewhere.
  function monaco(editor) {
    const lines = h("div", { class: "view-lines" }, (editor.query || "").split("\n").map((l) => h("div", { class: "view-line" }, l)));
    const input = h("textarea", { class: "inputarea", "aria-label": "Editor content", autocomplete: "off",
      value: editor.query,
      oninput: (e) => { editor.query = e.target.value; rerenderSoon(); } });
    return h("div", { class: "monaco-editor", sel: sel("components.CodeEditor.container"),
      onmousedown: (e) => { e.preventDefault(); input.focus(); } }, input, lines);
  }

  function saveDashboard() {
    const editor = state.editor;
    const uid = Math.random().toString(36).slice(2, 10);
    store.set("dashboards", [...store.get("dashboards", []), { uid, title: editor.title, query: editor.query }]);
    state.editor = null;
    navigate("/d/" + uid);
  }

  function dashboard(uid) {
    const found = store.get("dashboards", []).find((d) => d.uid === uid);
    if (!found) return h("section", { class: "page" }, h("h1", {}, "Dashboard not found"));
    return h("section", { class: "page" }, h("h1", {}, found.title),
      h("div", { class: "panel", sel: sel("components.Panels.Panel.title", found.title) },
        h("h3", {}, found.title), h("pre", {}, found.query)));
  }

  function explore() {
    const page = h("section", { class: "page" }, h("h1", {}, "Explore"), h("p", { class: "loading" }, "Loading…"));
    // Late rendering, as lazy chunks do: the container appears after a while.
    setTimeout(() => {
      if (location.pathname !== "/explore") return;
      page.querySelector(".loading")?.replaceWith(
        h("div", { class: "explore", sel: sel("pages.Explore.General.container") },
          h("div", { class: "query-field", sel: sel("components.QueryField.container") },
            h("input", { name: "query", placeholder: "Enter a query" })),
          h("button", { class: "primary", sel: sel("components.RefreshPicker.runButtonV2") }, "Run query")));
    }, 800);
    return page;
  }

  const PLUGINS = ["Prometheus", "Loki", "Tempo"];
  function datasources() {
    const list = store.get("datasources", []);
    return h("section", { class: "page" },
      h("div", { class: "page-header" }, h("h1", {}, "Data sources"),
        h("a", { class: "button primary", href: "/connections/datasources/new" }, "Add new data source")),
      h("ul", { class: "list" }, list.length ? list.map((d) =>
        h("li", { sel: sel("pages.DataSources.dataSources", d.name) }, d.name + " (" + d.type + ")"))
        : h("li", { class: "empty" }, "No data sources")));
  }

  function newDatasource() {
    return h("section", { class: "page" }, h("h1", {}, "Add data source"),
      h("div", { class: "cards" }, PLUGINS.map((name) =>
        h("button", { class: "card", sel: sel("pages.AddDataSource.dataSourcePluginsV2", name),
          onclick: () => navigate("/connections/datasources/edit/" + name.toLowerCase()) }, name))));
  }

  function editDatasource(type) {
    const name = h("input", { id: "ds-name", value: type.charAt(0).toUpperCase() + type.slice(1), sel: sel("pages.DataSource.name") });
    const status = h("p", { class: "status", role: "status" });
    return h("section", { class: "page" }, h("h1", {}, "Settings"),
      h("label", { for: "ds-name" }, "Name"), name,
      h("button", { class: "primary", sel: sel("pages.DataSource.saveAndTest"), onclick: () => {
        store.set("datasources", [...store.get("datasources", []), { name: name.value, type }]);
        status.textContent = "Data source is working";
      } }, "Save & test"), status);
  }

  function login() {
    const user = h("input", { name: "user", sel: sel("pages.Login.username") });
    const password = h("input", { name: "password", type: "password", sel: sel("pages.Login.password") });
    const error = h("p", { class: "error" });
    return h("section", { class: "page login" }, h("h1", {}, "Welcome to Grafana"),
      h("form", { onsubmit: async (e) => {
        e.preventDefault();
        // The server checks the password and sets an HttpOnly session cookie, as Grafana does.
        const response = await fetch("/login", { method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ user: user.value, password: password.value }) });
        if (!response.ok) { error.textContent = "Invalid username or password"; return; }
        const redirect = new URLSearchParams(location.search).get("redirect") || "/";
        location.assign(redirect.startsWith("/") && !redirect.startsWith("//") ? redirect : "/");
      } }, h("label", {}, "Email or username"), user, h("label", {}, "Password"), password,
        h("button", { class: "primary", type: "submit", sel: sel("pages.Login.submit") }, "Log in"), error));
  }

  function plugin() {
    const params = new URLSearchParams(location.search);
    const doc = params.get("doc");
    if (doc !== plugin.opened) {
      plugin.opened = doc;
      queueMicrotask(() => window.pathfinderPanel.open(doc));
    }
    return h("section", { class: "page" }, h("h1", {}, "Grafana Pathfinder"),
      h("p", {}, params.get("session") ? "Live session code received." : "Interactive guides open in the panel."));
  }

  function route() {
    const path = location.pathname;
    if (path === "/login") return login();
    if (path === "/") return home();
    if (path === "/dashboards") return dashboards();
    if (path === "/dashboard/new") return newDashboard();
    if (path.startsWith("/d/")) return dashboard(path.slice(3));
    if (path === "/explore") return explore();
    if (path === "/connections/datasources") return datasources();
    if (path === "/connections/datasources/new") return newDatasource();
    if (path.startsWith("/connections/datasources/edit/")) return editDatasource(path.split("/").pop());
    if (path.startsWith(boot.sandbox.pluginPath)) return plugin();
    return h("section", { class: "page" }, h("h1", {}, "Page not found"));
  }

  let pending = false;
  let rendering = false;
  function rerenderSoon() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; render(); });
  }

  function render() {
    const root = document.getElementById("app");
    const focusedId = document.activeElement && document.activeElement.id;
    const focusedClass = document.activeElement && document.activeElement.className;
    const selection = document.activeElement && "selectionStart" in document.activeElement
      ? [document.activeElement.selectionStart, document.activeElement.selectionEnd] : null;
    rendering = true;
    try {
      root.replaceChildren(...shell(route()));
    } finally {
      rendering = false;
    }
    // Keep focus across re-mounts, as React keeps it for the same component.
    const again = focusedId ? document.getElementById(focusedId)
      : focusedClass === "inputarea" ? root.querySelector("textarea.inputarea") : null;
    if (again) {
      again.focus();
      if (selection && "setSelectionRange" in again) again.setSelectionRange(...selection);
    }
    window.dispatchEvent(new CustomEvent("sandbox:render"));
  }

  window.sandbox = { navigate, render, sel, h, store };
  // A Grafana-sized DOM for benchmarks: a dashboard grid of many cells below the app.
  function addBulk(count) {
    if (!count) return;
    const grid = h("div", { class: "bulk", "aria-hidden": "true" });
    for (let i = 0; i < count / 10; i++) {
      grid.append(h("div", { class: "bulk-row" }, Array.from({ length: 9 }, (_, j) => h("span", { class: "cell" }, i * 9 + j))));
    }
    document.body.append(grid);
  }
  document.addEventListener("DOMContentLoaded", () => { render(); addBulk(boot.sandbox.extraElements); });
})();
