// Serves the built Worker (build/) in workerd through Miniflare's API, without wrangler dev.
// wrangler dev's development layers cost milliseconds per request and per subrequest here
// (measured in BENCHMARKS.md) and exist nowhere in a deployment; benchmarks use this runner
// to measure the Worker itself.
//
//   node miniflare.mjs <port> <compatibility date> <bindings as a JSON object of strings> [<OAuth KV dir>]
//
// With the fourth argument the KV namespace OAUTH_KV is bound (which turns OAuth on), kept
// in that directory.
import { Miniflare } from "miniflare";
import { fileURLToPath } from "node:url";

const [port, compatibilityDate, bindings, oauthKvDir] = process.argv.slice(2);
const build = fileURLToPath(new URL("../../../build/", import.meta.url));
const miniflare = new Miniflare({
  modulesRoot: build,
  modules: [
    { type: "ESModule", path: `${build}index.js` },
    { type: "CompiledWasm", path: `${build}index_bg.wasm` },
  ],
  compatibilityDate,
  bindings: JSON.parse(bindings),
  ...(oauthKvDir ? { kvNamespaces: ["OAUTH_KV"], kvPersist: oauthKvDir } : {}),
  host: "127.0.0.1",
  port: Number(port),
});
await miniflare.ready;
console.error(`serving build/ on http://127.0.0.1:${port}`);
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => miniflare.dispose().finally(() => process.exit(0)));
}
