// Fails when src/api/schema.d.ts is not what `npm run gen:api` would produce from openapi.json,
// so a changed API contract cannot land without its regenerated client types.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const committed = join(root, "src/api/schema.d.ts");
const dir = mkdtempSync(join(tmpdir(), "hh-check-api-"));
const fresh = join(dir, "schema.d.ts");

try {
  const require = createRequire(import.meta.url);
  const pkgDir = dirname(require.resolve("openapi-typescript/package.json"));
  const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
  const binRel = typeof pkg.bin === "string" ? pkg.bin : pkg.bin["openapi-typescript"];
  const run = spawnSync(process.execPath, [join(pkgDir, binRel), "openapi.json", "-o", fresh], {
    cwd: root,
    encoding: "utf8",
  });
  if (run.status !== 0) {
    console.error(run.stdout, run.stderr);
    console.error("check:api: openapi-typescript failed on frontend/openapi.json (see above).");
    process.exit(2);
  }
  let current = "";
  try {
    current = readFileSync(committed, "utf8");
  } catch {
    console.error("check:api: src/api/schema.d.ts is missing. Run `npm run gen:api` in frontend/.");
    process.exit(1);
  }
  if (current !== readFileSync(fresh, "utf8")) {
    console.error(
      "check:api: src/api/schema.d.ts is out of date with frontend/openapi.json.\n" +
        "Run `npm run gen:api` in frontend/ and commit the result.",
    );
    process.exit(1);
  }
  console.log("check:api: src/api/schema.d.ts matches openapi.json");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
