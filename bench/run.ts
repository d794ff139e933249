/**
 * Runs every benchmark in this folder (files named `*.bench.ts`, each with a default export
 * `() => Promise<void>` that prints its figures) in name order. Pass names to run a subset:
 * `npm run bench -- domain db`.
 */
import { readdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const files = (await readdir(here))
  .filter((name) => name.endsWith(".bench.ts"))
  .filter((name) => wanted.length === 0 || wanted.includes(name.replace(/\.bench\.ts$/, "")))
  .sort();

for (const file of files) {
  process.stdout.write(`\n== ${file.replace(/\.bench\.ts$/, "")} ==\n`);
  const module = (await import(pathToFileURL(join(here, file)).href)) as {
    default: () => Promise<void>;
  };
  await module.default();
}
