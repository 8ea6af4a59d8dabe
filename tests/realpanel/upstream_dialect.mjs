// Bundles upstream's selector engine (querySelectorAllEnhanced, isCssSelector) from its own
// path (PATHFINDER_SRC) for a test page: nothing of it is copied into this repository.
// node upstream_dialect.mjs ESBUILD_MAIN PATHFINDER_SRC OUTFILE
import { pathToFileURL } from "node:url";

const [esbuildMain, src, outfile] = process.argv.slice(2);
const { build } = await import(pathToFileURL(esbuildMain).href);
await build({
  stdin: {
    contents: `
      import { querySelectorAllEnhanced } from ${JSON.stringify(src + "/src/lib/dom/enhanced-selector.ts")};
      import { isCssSelector } from ${JSON.stringify(src + "/src/lib/dom/selector-detector.ts")};
      window.__upstreamDialect = { query: (s) => querySelectorAllEnhanced(s).elements, isCssSelector };`,
    resolveDir: src,
    loader: "ts",
  },
  bundle: true,
  format: "iife",
  outfile,
  logLevel: "warning",
  plugins: [{
    // Its logger module is not part of the published files: the console stands in.
    name: "logging",
    setup(b) {
      b.onResolve({ filter: /\/logging$/ }, () => ({ path: "logging", namespace: "stub" }));
      b.onLoad({ filter: /.*/, namespace: "stub" }, () => ({ contents: "export const logger = console;" }));
    },
  }],
});
