// Packs and unpacks values with PeerJS's own BinaryPack (peerjs-js-binarypack), for
// tests that compare our codec with it byte for byte. stdin: {"mode", "items"}; stdout: JSON.
// Binary values travel as {"$bytes": "<hex>"}.
import { pack, unpack } from "peerjs-js-binarypack";

const toJs = (v) => {
  if (Array.isArray(v)) return v.map(toJs);
  if (v && typeof v === "object") {
    if ("$bytes" in v) return new Uint8Array(Buffer.from(v.$bytes, "hex")).buffer;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJs(x)]));
  }
  return v;
};
const fromJs = (v) => {
  if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return { $bytes: Buffer.from(v).toString("hex") };
  if (Array.isArray(v)) return v.map(fromJs);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromJs(x)]));
  return v === undefined ? null : v;
};

let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const { mode, items } = JSON.parse(input);
  const out = mode === "pack"
    ? items.map((v) => Buffer.from(pack(toJs(v))).toString("hex"))
    : items.map((h) => fromJs(unpack(new Uint8Array(Buffer.from(h, "hex")).buffer)));
  process.stdout.write(JSON.stringify(out));
});
