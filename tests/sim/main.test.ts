import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");

describe("npm run sim (sim/main.ts)", () => {
  it("prints its base URL, serves Alpaca's API there, and stops cleanly on SIGTERM", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "sim/main.ts"], {
      cwd: ROOT,
      env: {
        ...process.env,
        SIM_PORT: "0",
        SIM_KEY_ID: "main-key",
        SIM_SECRET_KEY: "main-secret",
        SIM_WALK_MS: "0",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      let out = "";
      child.stdout.setEncoding("utf8");
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no URL printed; stdout: ${out}`)), 20_000);
        child.stdout.on("data", (chunk: string) => {
          out += chunk;
          const line = out.split("\n")[0];
          if (out.includes("\n") && line) {
            clearTimeout(timer);
            resolve(line.trim());
          }
        });
        child.once("exit", (code) => reject(new Error(`exited early with ${code}`)));
      });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const denied = await fetch(`${url}/v2/account`, {
        headers: { "APCA-API-KEY-ID": "other", "APCA-API-SECRET-KEY": "x" },
      });
      expect(denied.status).toBe(401);
      const res = await fetch(`${url}/v2/clock`, {
        headers: { "APCA-API-KEY-ID": "main-key", "APCA-API-SECRET-KEY": "main-secret" },
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toHaveProperty("is_open");
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      const [code] = await exited;
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});
