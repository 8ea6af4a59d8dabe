// The guide shown in this page's docs panel and its steps, read from the step elements'
// attributes (Pathfinder's DOM contract). Evaluated as a function with the contract as its
// argument; returns null when no guide is shown. Reads only: nothing on the page changes.
(contract) => {
  const root = document.querySelector(contract.panel_root);
  if (!root || root.hidden || !root.isConnected) return null;
  if (typeof root.checkVisibility === "function" && !root.checkVisibility()) return null;
  // The imitation names the guide on its root; the real panel keeps its tabs in localStorage
  // (its user storage writes there first) and announces the active tab's currentUrl, else baseUrl.
  const stored = (key) => {
    try { return JSON.parse(window.localStorage.getItem(key) || "null"); } catch { return null; }
  };
  const activeTabUrl = () => {
    const active = stored(contract.tabs_storage.active_tab_key);
    const tabs = stored(contract.tabs_storage.tabs_key);
    if (typeof active !== "string" || !Array.isArray(tabs)) return null;
    const tab = tabs.find((t) => t && t.id === active);
    const url = tab && (tab.currentUrl || tab.baseUrl);
    return typeof url === "string" && url ? url : null;
  };
  const url = root.getAttribute(contract.guide_attribute) || activeTabUrl();
  if (!url) return null;
  const attrs = contract.step.attributes;
  const steps = Array.from(root.querySelectorAll(contract.step.selector), (step) => {
    let internalActions = null;
    try { internalActions = JSON.parse(step.getAttribute(attrs.internal_actions) || "null"); } catch { internalActions = null; }
    return {
      stepId: step.getAttribute(attrs.step_id) || "",
      action: {
        targetAction: step.getAttribute(attrs.action) || "",
        refTarget: step.getAttribute(attrs.reftarget) || "",
        targetValue: step.getAttribute(attrs.value),
        targetComment: step.getAttribute(attrs.comment),
        internalActions,
      },
    };
  });
  return { url, steps };
}
