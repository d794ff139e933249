/**
 * What the kill-switch tests share: the kill-switch queue and a worker running its jobs beside a
 * lifecycle's runtime, as a worker process runs them (/halt sweeps, /close and /flatten); a
 * filled position with its live stop to close; the broker's open orders; the close results told.
 */
import { and, eq } from "drizzle-orm";
import { Redis } from "ioredis";
import { notificationOutbox } from "../../db/schema";
import type { PositionCloseResultNotice } from "../../domain/notifications";
import { createKillSwitchQueue, startKillSwitchWorker } from "../../jobs/killSwitchQueue";
import { createOrderReportHandler } from "../../jobs/orderReports";
import { TEST_REDIS_URL } from "../support/redis";
import { type Lifecycle, OWNER_CHAT, tradeIn, waitFor } from "./harness";

export interface KillSwitchJobs {
  readonly queue: ReturnType<typeof createKillSwitchQueue>;
  close(): Promise<void>;
}

/** Opens the queue and starts its worker on a connection of its own. */
export function startKillSwitchJobs(t: Lifecycle): KillSwitchJobs {
  const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  const queue = createKillSwitchQueue({ connection: t.redis.redis, prefix: t.prefix });
  const worker = startKillSwitchWorker({
    deps: t.deps,
    handler: createOrderReportHandler(t.deps),
    connection,
    prefix: t.prefix,
  });
  return {
    queue,
    async close() {
      await worker.close();
      await queue.close();
      await connection.quit();
    },
  };
}

/** The broker's open orders of a symbol, legs apart. */
export async function openOrders(t: Lifecycle, symbol: string) {
  const open = await t.broker.listOrders({ status: "open", symbols: [symbol], nested: false });
  if (!open.ok) throw new Error(open.message);
  return open.value;
}

/**
 * A filled long position of `symbol` with its live stop: its decision and trade. The trade is
 * waited for in POSITION too: a bracket's stop is at the broker from the entry's submit (held
 * until the fill), so a live stop alone does not say the fill is stored.
 */
export async function openPosition(t: Lifecycle, symbol: string, quantity: string) {
  await t.sim.control("/sim/quotes", { symbol, bid: "99.99", ask: "100.01" });
  const decision = await t.decide({ symbol, entry: null, quantity });
  await t.jobs.executeDecision(decision.id);
  const trade = await tradeIn(t.db.db, decision.id, "POSITION");
  await waitFor(
    async () => (await openOrders(t, symbol)).some((o) => o.type === "stop"),
    15_000,
    "live stop",
  );
  return { decision, trade };
}

/** The close results told to the owner, oldest first (of one symbol when named). */
export async function closeResults(
  t: Lifecycle,
  symbol?: string,
): Promise<PositionCloseResultNotice[]> {
  const rows = await t.db.db
    .select()
    .from(notificationOutbox)
    .where(
      and(
        eq(notificationOutbox.kind, "POSITION_CLOSE_RESULT"),
        eq(notificationOutbox.chatId, OWNER_CHAT),
      ),
    )
    .orderBy(notificationOutbox.id);
  return rows
    .map((r) => r.payload as unknown as PositionCloseResultNotice)
    .filter((n) => symbol === undefined || n.symbol === symbol);
}
