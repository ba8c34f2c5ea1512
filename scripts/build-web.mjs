// Builds the web console (web/) into dist/web: one bundle of the app and its
// styles, and the page. No CDN: the daemon serves these files itself.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = join(root, "dist/web");
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "assets"), { recursive: true });
await build({
  entryPoints: [join(root, "web/src/main.tsx")],
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  legalComments: "none",
  jsx: "automatic",
  jsxImportSource: "preact",
  outdir: join(out, "assets"),
  entryNames: "app",
  logLevel: "warning",
});
copyFileSync(join(root, "web/index.html"), join(out, "index.html"));
copyFileSync(join(root, "web/icon.svg"), join(out, "assets/icon.svg"));
