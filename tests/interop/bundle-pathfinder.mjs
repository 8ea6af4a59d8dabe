// Bundles Pathfinder's own source for the browser at test time, from an entry file of ours.
// Pathfinder (grafana-pathfinder-app) is AGPL-3.0: it is read from the checkout named by --src
// and written only to --out, never into this repository nor into the checkout.
//
//   node bundle-pathfinder.mjs --src CHECKOUT --entry ENTRY.ts --out OUT.js [--stub NAME=FILE]...
//
// In the entry file, "pathfinder/<path>" means <path> inside the checkout. A --stub replaces a
// module that upstream imports: NAME is a bare package name ("@grafana/runtime") or a path in
// the checkout without extension ("src/lib/logging", whatever relative path upstream spells).
// Bare packages that upstream imports (peerjs, qrcode) resolve from this folder's node_modules,
// never from a node_modules of the checkout, so the versions are the ones package.json pins.
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    src: { type: "string" },
    entry: { type: "string" },
    out: { type: "string" },
    stub: { type: "string", multiple: true, default: [] },
  },
});
if (!values.src || !values.entry || !values.out) {
  console.error("usage: bundle-pathfinder.mjs --src CHECKOUT --entry ENTRY --out OUT [--stub NAME=FILE]...");
  process.exit(2);
}
const checkout = path.resolve(values.src);
const stubs = new Map();
for (const item of values.stub) {
  const [name, file] = item.split("=");
  const key = name.startsWith("src/") ? path.join(checkout, name) : name;
  stubs.set(key, path.resolve(file));
}
const insideCheckout = (file) => file === checkout || file.startsWith(checkout + path.sep);
const BARE = /^[^./]/;

const pathfinder = {
  name: "pathfinder",
  setup(build) {
    // Our entry file names upstream modules as "pathfinder/<path in the checkout>".
    build.onResolve({ filter: /^pathfinder\// }, (args) =>
      build.resolve("./" + args.path.slice("pathfinder/".length), {
        kind: args.kind,
        resolveDir: checkout,
        pluginData: { resolved: true },
      }),
    );
    // Upstream's relative imports of a stubbed module (its logger) get our stub.
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      const target = path.resolve(args.resolveDir, args.path);
      return insideCheckout(args.importer) && stubs.has(target) ? { path: stubs.get(target) } : undefined;
    });
    // Upstream's bare imports: a stub, or the package from our node_modules (packages' own
    // imports resolve as usual).
    build.onResolve({ filter: BARE }, (args) => {
      if (!insideCheckout(args.importer) || args.pluginData?.resolved) return undefined;
      if (stubs.has(args.path)) return { path: stubs.get(args.path) };
      return build.resolve(args.path, { kind: args.kind, resolveDir: here, pluginData: { resolved: true } });
    });
  },
};

await esbuild.build({
  entryPoints: [path.resolve(values.entry)],
  outfile: path.resolve(values.out),
  bundle: true,
  format: "iife",
  platform: "browser",
  target: "chrome120",
  // The checkout's tsconfig.json (and whatever it extends) plays no part: types are only erased.
  tsconfigRaw: {},
  logLevel: "warning",
  legalComments: "inline",
  plugins: [pathfinder],
});
