// Copies the studio's front-end libraries from node_modules into the package's static folder,
// where the app serves them at /studio/vendor/ (committed: no CDN, no npm at run time), and
// writes vendor/VERSIONS.json (version and SHA-256 of each file; a test holds it to the lock).
// After changing a version in package.json: `cd studio && npm install && npm run vendor`.
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, "..", "app", "studio", "vendor");
const FILES = { "chart.js": "dist/chart.umd.min.js", diff: "dist/diff.min.js" };

mkdirSync(target, { recursive: true });
const versions = {};
for (const [name, file] of Object.entries(FILES)) {
  const source = join(here, "node_modules", name);
  const { version } = JSON.parse(readFileSync(join(source, "package.json"), "utf8"));
  const out = file.split("/").pop();
  copyFileSync(join(source, file), join(target, out));
  const sha256 = createHash("sha256").update(readFileSync(join(target, out))).digest("hex");
  versions[name] = { version, from: file, file: out, sha256 };
  console.log(`vendored ${name} ${version} as app/studio/vendor/${out}`);
}
writeFileSync(join(target, "VERSIONS.json"), JSON.stringify(versions, null, 2) + "\n");
