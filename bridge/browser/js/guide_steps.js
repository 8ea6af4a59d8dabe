// The guide shown in this page's docs panel and its steps, read from the step elements'
// attributes (Pathfinder's DOM contract). Evaluated as a function with the contract as its
// argument; returns null when no guide is shown. Reads only: nothing on the page changes.
(contract) => {
  const root = document.querySelector(contract.panel_root);
  if (!root || root.hidden || !root.isConnected) return null;
  if (typeof root.checkVisibility === "function" && !root.checkVisibility()) return null;
  const url = root.getAttribute(contract.guide_attribute);
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
