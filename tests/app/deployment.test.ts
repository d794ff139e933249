/**
 * The shipped compose file gives the desk's processes the time their graceful stop may take.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { STOP_LIMIT_MS } from "../../app/stopLimit";

const compose = readFileSync(new URL("../../compose.yaml", import.meta.url), "utf8");

/** Seconds of a compose duration such as "30s", "1m" or "1m30s". */
function seconds(duration: string): number {
  const match = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(duration.trim());
  if (match === null || duration.trim() === "") throw new Error(`unreadable duration ${duration}`);
  return Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0);
}

describe("compose.yaml", () => {
  it("waits longer than the desk's own stop limit before killing bot and worker", () => {
    // Docker kills after 10 s unless told otherwise: active jobs would be cut short and the
    // trade stream's lease left held until it lapses.
    const block = /^x-desk: &desk\n((?: {2}.*\n|\n)*)/m.exec(compose)?.[1] ?? "";
    const grace = /^ {2}stop_grace_period: (\S+)$/m.exec(block)?.[1];
    expect(grace, "stop_grace_period in x-desk").toBeDefined();
    expect(seconds(grace ?? "0s") * 1000).toBeGreaterThan(STOP_LIMIT_MS);
    for (const service of ["bot", "worker"]) {
      expect(compose).toMatch(new RegExp(`^ {2}${service}:\\n {4}<<: \\*desk$`, "m"));
    }
  });
});
