// The sandbox's host for a built Pathfinder plugin: plays Grafana's part for the plugin's
// module.js (an AMD module) without Grafana. It supplies the externals Grafana provides at run
// time (React, @grafana/*, ...), the runtime services the plugin calls, loads module.js from
// /public/plugins/<id>/ as Grafana does, and mounts the plugin's sidebar component in the
// sandbox's docs panel. In-app navigation goes through locationService; the sandbox's router
// re-renders on every history change. Our own code; bundled by esbuild (build.mjs).
import * as emotionCss from "@emotion/css";
import * as grafanaData from "@grafana/data";
import * as grafanaRuntime from "@grafana/runtime";
import * as grafanaUi from "@grafana/ui";
import i18next from "i18next";
import lodash from "lodash";
import Prism from "prismjs";
import React from "react";
import ReactDOM from "react-dom";
import * as ReactDOMClient from "react-dom/client";
import * as jsxRuntime from "react/jsx-runtime";
import * as reactRouter from "react-router";
import * as rxjs from "rxjs";

const {
  locationService,
  setAppEvents,
  setBackendSrv,
  setDataSourceSrv,
  setEchoSrv,
  setHelpNavItemHook,
  setPluginComponentHook,
  setPluginComponentsHook,
  setPluginFunctionsHook,
  setPluginLinksHook,
  setLocationSrv,
  setTemplateSrv,
  setCurrentUser,
} = grafanaRuntime;

const boot = window.grafanaBootData;
const host = boot.pathfinderHost; // {pluginId, pluginUrl, panelRoot}
const log = (...args) => console.debug("[SandboxHost]", ...args);

// -- the runtime services -------------------------------------------------------------------
// Every request goes to the sandbox server, which answers what the plugin needs (its settings,
// the sandbox's guides) and 404 for the rest, as a Grafana without those APIs would.
class FetchError extends Error {
  constructor(response, data) {
    super(`${response.status} ${response.statusText}`);
    Object.assign(this, { status: response.status, statusText: response.statusText, data, config: {} });
  }
}

async function request(options) {
  const method = (options.method || "GET").toUpperCase();
  let url = options.url;
  if (options.params && Object.keys(options.params).length) {
    url += (url.includes("?") ? "&" : "?") + new URLSearchParams(options.params).toString();
  }
  const init = { method, headers: { Accept: "application/json", ...(options.headers || {}) } };
  if (options.data !== undefined && method !== "GET") {
    init.body = typeof options.data === "string" ? options.data : JSON.stringify(options.data);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(url.startsWith("/") || url.startsWith("http") ? url : "/" + url, init);
  const text = await response.text();
  let data = text;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: keep the text */ }
  if (!response.ok) throw new FetchError(response, data);
  return { data, status: response.status, statusText: response.statusText, ok: true, headers: response.headers,
    redirected: response.redirected, type: response.type, url: response.url, config: options };
}

const backendSrv = {
  fetch: (options) => rxjs.from(request(options)),
  request: (options) => request(options).then((r) => r.data),
  datasourceRequest: (options) => request(options),
  get: (url, params, _id, options) => request({ ...(options || {}), url, params }).then((r) => r.data),
  delete: (url, data, options) => request({ ...(options || {}), url, data, method: "DELETE" }).then((r) => r.data),
  post: (url, data, options) => request({ ...(options || {}), url, data, method: "POST" }).then((r) => r.data),
  patch: (url, data, options) => request({ ...(options || {}), url, data, method: "PATCH" }).then((r) => r.data),
  put: (url, data, options) => request({ ...(options || {}), url, data, method: "PUT" }).then((r) => r.data),
  resolveCancelerIfExists: () => {},
};

const appEvents = new grafanaData.EventBusSrv();

function installServices() {
  setBackendSrv(backendSrv);
  setAppEvents(appEvents);
  setDataSourceSrv({
    get: () => Promise.reject(new Error("no data sources in the sandbox")),
    getList: () => [],
    getInstanceSettings: () => undefined,
    reload: () => Promise.resolve(),
    registerRuntimeDataSource: () => {},
  });
  setEchoSrv({ logEvent: () => {}, addBackend: () => {}, flush: () => {}, addEvent: () => {} });
  setLocationSrv({ update: (options) => options.path && locationService.push(options.path) });
  setTemplateSrv({ getVariables: () => [], replace: (text) => text, containsTemplate: () => false, updateTimeRange: () => {} });
  if (setCurrentUser) setCurrentUser(boot.user);
  // Plugin extensions: nothing else is installed, so every extension point is empty.
  setHelpNavItemHook(() => undefined);
  setPluginComponentHook(() => ({ component: null, isLoading: false }));
  setPluginComponentsHook(() => ({ components: [], isLoading: false }));
  setPluginLinksHook(() => ({ links: [], isLoading: false }));
  setPluginFunctionsHook(() => ({ functions: [], isLoading: false }));
}

// -- AMD and SystemJS, as Grafana's plugin loader offers them ---------------------------------
const esm = (namespace) => ({ ...namespace, __esModule: true });
const externals = {
  "@emotion/css": esm(emotionCss),
  "@grafana/data": esm(grafanaData),
  "@grafana/runtime": esm(grafanaRuntime),
  "@grafana/ui": esm(grafanaUi),
  i18next,
  lodash,
  prismjs: Prism,
  react: React,
  "react-dom": ReactDOM,
  "react-dom/client": ReactDOMClient,
  "react/jsx-runtime": jsxRuntime,
  "react-router": esm(reactRouter),
  rxjs: esm(rxjs),
};

function loadAmdModule(url) {
  return new Promise((resolve, reject) => {
    let defined = null;
    const define = (deps, factory) => {
      if (typeof deps === "function") { factory = deps; deps = []; }
      defined = { deps, factory };
    };
    define.amd = true;
    window.define = define;
    const script = document.createElement("script");
    script.src = url;
    script.onload = () => {
      // Only module.js may define: lazily loaded chunks carry UMD code that would call it.
      delete window.define;
      if (!defined) { reject(new Error(`${url} did not call define()`)); return; }
      const missing = defined.deps.filter((name) => name !== "module" && !(name in externals));
      if (missing.length) { reject(new Error(`the host lacks ${missing.join(", ")}`)); return; }
      const args = defined.deps.map((name) => (name === "module" ? { uri: url, id: url } : externals[name]));
      resolve(defined.factory(...args));
    };
    script.onerror = () => { delete window.define; reject(new Error(`cannot load ${url}`)); };
    document.head.append(script);
  });
}

// -- app notifications ------------------------------------------------------------------------
// What the plugin publishes as alert-success / -warning / -error (Live Sessions' "Element not
// found: ..." among them) shows as Grafana shows it: its own Alert component, for as long as
// Grafana keeps each severity. Bottom left, away from the docs panel's buttons.
const NOTIFICATION_MS = { success: 3000, warning: 5000, error: 7000 };
let notificationId = 0;

function AppNotifications() {
  const [items, setItems] = React.useState([]);
  React.useEffect(() => {
    const remove = (id) => setItems((list) => list.filter((item) => item.id !== id));
    const subscriptions = Object.keys(NOTIFICATION_MS).map((severity) =>
      appEvents.subscribe({ type: `alert-${severity}` }, (event) => {
        const [title, text] = [].concat(event.payload ?? []);
        const id = ++notificationId;
        const words = (value) => (value == null ? "" : String(value instanceof Error ? value.message : value));
        setItems((list) => [...list, { id, severity, title: words(title), text: words(text) }]);
        setTimeout(() => remove(id), NOTIFICATION_MS[severity]);
      }));
    return () => subscriptions.forEach((subscription) => subscription.unsubscribe());
  }, []);
  return React.createElement("div", { className: "page-alert-list", style: { position: "fixed", left: "16px", bottom: "16px", width: "420px", zIndex: 10000 } },
    items.map((item) => React.createElement(grafanaUi.Alert, {
      key: item.id, severity: item.severity, title: item.title, elevated: true,
      onRemove: () => setItems((list) => list.filter((other) => other.id !== item.id)),
    }, item.text)));
}

// -- mounting ---------------------------------------------------------------------------------
const SIDEBAR_TARGET = "grafana/extension-sidebar/v0-alpha";

async function mount() {
  installServices();
  window.System = { import: (name) => (name in externals ? Promise.resolve(externals[name]) : Promise.reject(new Error(`no module ${name}`))) };
  const [meta, settings, exports] = await Promise.all([
    fetch(`${host.pluginUrl}/plugin.json`).then((r) => r.json()),
    backendSrv.get(`/api/plugins/${host.pluginId}/settings`),
    loadAmdModule(`${host.pluginUrl}/module.js`),
  ]);
  const plugin = exports.plugin;
  const pluginMeta = {
    ...meta, ...settings, id: host.pluginId, type: "app", baseUrl: host.pluginUrl.slice(1),
    module: `${host.pluginUrl}/module.js`, info: meta.info,
  };
  plugin.meta = pluginMeta;
  if (typeof plugin.init === "function") plugin.init(pluginMeta);
  const sidebar = (plugin.addedComponentConfigs || []).find((c) => [].concat(c.targets).includes(SIDEBAR_TARGET));
  if (!sidebar) throw new Error("the plugin adds no sidebar component");
  const root = document.createElement("aside");
  root.className = "docs-panel real-panel";
  root.setAttribute("data-testid", host.panelRoot);
  document.body.append(root);
  const theme = grafanaData.createTheme({ colors: { mode: "dark" } });
  const element = React.createElement(grafanaUi.ThemeContext.Provider, { value: theme },
    React.createElement(grafanaData.PluginContextProvider, { meta: pluginMeta }, React.createElement(sidebar.component)));
  const notifications = document.createElement("div");
  document.body.append(notifications);
  ReactDOMClient.createRoot(notifications).render(
    React.createElement(grafanaUi.ThemeContext.Provider, { value: theme }, React.createElement(AppNotifications)));
  // The sidebar announces itself once its effects ran; only then does it hear open requests.
  const announced = new Promise((resolve) => window.addEventListener("pathfinder-sidebar-mounted", resolve, { once: true }));
  ReactDOMClient.createRoot(root).render(element);
  await announced;
  log("mounted", meta.info && meta.info.version);
}

// The sandbox's router follows the plugin's (and everybody's) history changes, and its own
// links go through locationService.
// Only a change of route re-renders: the plugin also replaces the location to tidy its own
// query parameters, and a re-render then would re-mount the very element it is about to click.
let shownRoute = location.pathname + location.search;
locationService.getHistory().listen(() => {
  const route = location.pathname + location.search;
  if (route === shownRoute || !window.sandbox) return;
  shownRoute = route;
  window.sandbox.render();
});
window.sandbox.router = (path) => locationService.push(path);

// A sandbox guide, by any of its names, as the real panel loads it: `backend-guide:ID`.
function panelUrl(url) {
  const sandboxGuide = /^https?:\/\/[^/]+\/guides\/([a-z0-9-]+)\/?$/.exec(url) || /^api:([a-z0-9-]+)$/.exec(url);
  return sandboxGuide ? "backend-guide:" + sandboxGuide[1] : url;
}

// What the sandbox page calls on its panel (the Help button, the plugin page's ?doc=).
let mounted = null;
window.pathfinderPanel = {
  async open(url) {
    await mounted;
    const root = document.querySelector(`[data-testid="${host.panelRoot}"]`);
    root.hidden = false;
    if (!url) return;
    const doc = panelUrl(url);
    // Grafana's own way of asking the panel to open a doc.
    document.dispatchEvent(new CustomEvent("pathfinder-auto-open-docs", { detail: { url: doc, title: doc } }));
  },
  toggle() {
    const root = document.querySelector(`[data-testid="${host.panelRoot}"]`);
    if (root) root.hidden = !root.hidden;
  },
};
mounted = mount().catch((error) => {
  console.error("[SandboxHost] cannot start the plugin:", error);
  document.documentElement.setAttribute("data-sandbox-host-error", String(error && error.message || error));
  throw error;
});
