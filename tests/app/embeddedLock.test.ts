/**
 * The embedded database's pid file: a live holder keeps others off; one left by a process that
 * is gone, or whose pid a new process now has (a container restarted), is taken over.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EmbeddedDatabaseInUse, lockEmbeddedDatabase } from "../../app/embeddedLock";

const directories: string[] = [];
async function directory(): Promise<string> {
  const made = await mkdtemp(join(tmpdir(), "desk-lock-"));
  directories.push(made);
  return made;
}
afterAll(async () => {
  for (const made of directories) await rm(made, { recursive: true, force: true });
});

describe("lockEmbeddedDatabase", () => {
  it("keeps a second taker off while the holder lives, and lets go on release", async () => {
    const dir = await directory();
    // The parent (the test runner) stands for a desk holding it.
    const stat = await readFile(`/proc/${process.ppid}/stat`, "utf8");
    const started = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
    await writeFile(join(dir, "desk.pid"), `${process.ppid} ${started}`);
    await expect(lockEmbeddedDatabase(dir)).rejects.toBeInstanceOf(EmbeddedDatabaseInUse);
    await rm(join(dir, "desk.pid"));
    const release = await lockEmbeddedDatabase(dir);
    await release();
    await (await lockEmbeddedDatabase(dir))();
  });

  it("takes over a file left by a process that is gone or whose pid was reused", async () => {
    const dir = await directory();
    await writeFile(join(dir, "desk.pid"), "2147483646 12345");
    await (await lockEmbeddedDatabase(dir))();
    // pid 1 lives (init), but started at another time than the one recorded.
    await writeFile(join(dir, "desk.pid"), "1 999999999999");
    const release = await lockEmbeddedDatabase(dir);
    expect((await readFile(join(dir, "desk.pid"), "utf8")).split(" ")[0]).toBe(String(process.pid));
    await release();
  });
});
