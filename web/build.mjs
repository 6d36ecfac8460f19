// Bundles the browser app with esbuild and writes web/dist/{index,doc,signin}.html
// plus content-hashed files under web/dist/assets/.
//   node web/build.mjs           production build (minified)
//   node web/build.mjs --dev     unminified, quicker to debug
// and web/dist/sw.js, the service worker, stamped with this build's version and files.
import * as esbuild from "esbuild";
import { createHash } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const webDir = path.dirname(fileURLToPath(import.meta.url));
const distDir = path.join(webDir, "dist");
const assetsDir = path.join(distDir, "assets");
const dev = process.argv.includes("--dev");

await rm(distDir, { recursive: true, force: true });
await mkdir(assetsDir, { recursive: true });

const result = await esbuild.build({
  entryPoints: {
    home: path.join(webDir, "src/pages/home.ts"),
    doc: path.join(webDir, "src/pages/doc.ts"),
    signin: path.join(webDir, "src/pages/signin.ts"),
    style: path.join(webDir, "src/style.css"),
  },
  outdir: assetsDir,
  entryNames: "[name]-[hash]",
  chunkNames: "chunk-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  minify: !dev,
  sourcemap: "linked",
  legalComments: "linked",
  metafile: true,
  logLevel: "warning",
});

// Map entry name -> public URL of its output file.
const urls = {};
for (const [file, out] of Object.entries(result.metafile.outputs)) {
  if (!out.entryPoint || file.endsWith(".map")) continue;
  const name = path.basename(file).replace(/-[A-Z0-9]+\.(js|css)$/i, "");
  urls[name] = "/assets/" + path.relative(assetsDir, file).split(path.sep).join("/");
}
for (const needed of ["home", "doc", "signin", "style"]) {
  if (!urls[needed]) throw new Error(`build: no output for entry ${needed}`);
}

for (const page of ["index", "doc", "signin"]) {
  const template = await readFile(path.join(webDir, `${page}.html`), "utf8");
  const html = template.replace(/\{\{(\w+)\}\}/g, (_m, key) => {
    if (!(key in urls)) throw new Error(`build: unknown placeholder {{${key}}} in ${page}.html`);
    return urls[key];
  });
  await writeFile(path.join(distDir, `${page}.html`), html);
}

// The service worker keeps this build's pages and assets for offline use (web/src/sw.ts).
// Its version is a hash of everything it caches, so any change makes a new sw.js.
const pages = { "/": "index.html", "/signin": "signin.html", "/d/": "doc.html" };
const assets = Object.keys(result.metafile.outputs)
  .filter((file) => /\.(js|css)$/.test(file))
  .map((file) => "/assets/" + path.relative(assetsDir, file).split(path.sep).join("/"))
  .sort();
const version = createHash("sha256");
for (const file of Object.values(pages)) version.update(await readFile(path.join(distDir, file)));
for (const url of assets) version.update(url + "\n");
await esbuild.build({
  entryPoints: [path.join(webDir, "src/sw.ts")],
  outfile: path.join(distDir, "sw.js"),
  bundle: true,
  format: "iife",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  minify: !dev,
  define: {
    __COEDIT_VERSION__: JSON.stringify(version.digest("hex").slice(0, 16)),
    __COEDIT_SHELL__: JSON.stringify({ pages: Object.keys(pages), assets }),
  },
  logLevel: "warning",
});

let total = 0;
for (const [file, out] of Object.entries(result.metafile.outputs)) {
  if (!file.endsWith(".map")) total += out.bytes;
}
console.log(`built web/dist: ${Object.values(urls).join(", ")} (${(total / 1024).toFixed(0)} KiB total)`);
