/**
 * The embedded database belongs to one process: PGlite keeps its own cache of the files, so two
 * processes on one directory lose each other's writes (the desk's books, or stored keys). A pid
 * file beside it says which process has it; one left by a process that is gone is taken over.
 */
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

const LOCK_FILE = "desk.pid";

/** Another live process has the embedded database open. */
export class EmbeddedDatabaseInUse extends Error {
  override readonly name = "EmbeddedDatabaseInUse";
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, another user's.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * When a process started (Linux: clock ticks since boot), or null where it cannot be read. Told
 * apart from a new process reusing the pid, as after a container restart.
 */
async function startTimeOf(pid: number): Promise<string | null> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => null);
  if (stat === null) return null;
  // Fields after the command name (which may hold spaces) in parentheses; start time is the 22nd.
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
}

/**
 * Takes the embedded database under `directory` for this process; answers the release. Throws
 * EmbeddedDatabaseInUse, naming the process, while another live one has it.
 */
export async function lockEmbeddedDatabase(directory: string): Promise<() => Promise<void>> {
  await mkdir(directory, { recursive: true });
  const path = join(directory, LOCK_FILE);
  const self = `${process.pid} ${(await startTimeOf(process.pid)) ?? "-"}`;
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(path, self, { flag: "wx" });
      return () => rm(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw error;
    }
    const [pidText = "", started = "-"] = (await readFile(path, "utf8").catch(() => ""))
      .trim()
      .split(" ");
    const holder = Number(pidText);
    const sameProcess = async () => {
      if (started === "-") return true;
      const now = await startTimeOf(holder);
      return now === null || now === started;
    };
    if (
      Number.isInteger(holder) &&
      holder > 0 &&
      holder !== process.pid &&
      isAlive(holder) &&
      (await sameProcess())
    ) {
      throw new EmbeddedDatabaseInUse(
        `the embedded database under ${directory} is open in process ${holder}; stop that process first (or, if none runs, remove ${path})`,
      );
    }
    // Left by a process that is gone (or by this one's predecessor with the same pid).
    await rm(path, { force: true });
  }
}
