// Bundles host.js with its pinned npm externals into one browser script.
// node build.mjs ENTRY OUTFILE NODE_MODULES  (run by bridge/sandbox/host_bundle.py)
import { build } from "esbuild";

const [entry, outfile, nodeModules] = process.argv.slice(2);
await build({
  entryPoints: [entry],
  outfile,
  nodePaths: [nodeModules],
  bundle: true,
  format: "iife",
  platform: "browser",
  target: "chrome120",
  minify: true,
  legalComments: "linked",
  logLevel: "warning",
  // Styles and fonts that some dependencies import (Monaco's) are not needed by the panel.
  loader: { ".css": "empty", ".ttf": "empty", ".woff": "empty", ".woff2": "empty", ".svg": "empty", ".png": "empty" },
  define: { "process.env.NODE_ENV": '"production"', global: "globalThis" },
});
