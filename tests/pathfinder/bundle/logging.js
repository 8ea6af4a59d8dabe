// Stands in for Pathfinder's `src/lib/logging` when its code is bundled for the tests: the same
// `logger.warn` / `logger.error` calls, written to the console and kept in
// `window.pathfinderLog` so a test can read what upstream complained about.
const entries = (globalThis.pathfinderLog = globalThis.pathfinderLog || []);

const describe = (value) => {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    return JSON.stringify(value, (key, item) => (item instanceof Error ? `${item.name}: ${item.message}` : item));
  } catch {
    return String(value);
  }
};

const write = (level) => (message, context) => {
  entries.push({ level, message: String(message), context: context === undefined ? "" : describe(context) });
  console[level](message, context ?? "");
};

export const logger = { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") };
