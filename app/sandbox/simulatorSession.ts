/**
 * The sandbox's simulator session. The sandbox keeps its records under ./data, but its simulator
 * starts fresh on every run, so before the workers start:
 * - its clock is put in an open session no earlier than the records' latest moment (plus the
 *   reconciliation grace period), so time never runs backwards for the records, and
 * - the positions the records hold are opened again at their average cost, with the price put
 *   back at their last mark.
 * A restart then continues where the last run stopped: reconciliation finds the positions it
 * expects, closes the orders the fresh simulator never had, and re-places their stops, instead
 * of closing the positions as exits made outside the desk.
 */
import type { Database } from "../../db/database";
import { lastLoggedAt } from "../../db/executionLog";
import { listPositions } from "../../db/positions";

/** Past the records' latest moment by more than reconciliation's grace period (60 s). */
const AFTER_RECORDS_MS = 2 * 60_000;

type SimulatorCall = (method: string, path: string, body?: unknown) => Promise<unknown>;

function simulatorCaller(
  simulatorUrl: string,
  keys: { readonly keyId: string; readonly secretKey: string },
): SimulatorCall {
  return async (method, path, body) => {
    const response = await fetch(`${simulatorUrl}${path}`, {
      method,
      headers: {
        "content-type": "application/json",
        "APCA-API-KEY-ID": keys.keyId,
        "APCA-API-SECRET-KEY": keys.secretKey,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const answer: unknown = await response.json();
    if (!response.ok) {
      throw new Error(`the simulator refused ${method} ${path}: ${JSON.stringify(answer)}`);
    }
    return answer;
  };
}

/**
 * Moves a fresh simulator's clock past the records' latest moment and into an open session, so
 * the desk can trade at once (`:time` moves it later). Returns the time it moved to, or null when
 * it stayed.
 */
export async function openSimulatedSession(
  db: Database,
  simulatorUrl: string,
  keys: { readonly keyId: string; readonly secretKey: string },
): Promise<string | null> {
  const call = simulatorCaller(simulatorUrl, keys);
  const clockAt = async () =>
    (await call("GET", "/v2/clock")) as { timestamp: string; is_open: boolean; next_open: string };
  const moveTo = async (time: string) => {
    await call("POST", "/sim/clock", { time });
    return time;
  };
  let moved: string | null = null;
  let clock = await clockAt();
  const recorded = await lastLoggedAt(db);
  if (recorded !== null && recorded.getTime() + AFTER_RECORDS_MS > Date.parse(clock.timestamp)) {
    moved = await moveTo(new Date(recorded.getTime() + AFTER_RECORDS_MS).toISOString());
    clock = await clockAt();
  }
  if (!clock.is_open) {
    moved = await moveTo(new Date(Date.parse(clock.next_open) + 60_000).toISOString());
  }
  return moved;
}

export interface SimulatorRestoreOptions {
  readonly db: Database;
  readonly accountId: number;
  readonly simulatorUrl: string;
  readonly keys: { readonly keyId: string; readonly secretKey: string };
}

/** One position put back at the simulator, for the start banner. */
export interface RestoredPosition {
  readonly symbol: string;
  readonly quantity: string;
}

const FILL_WAIT_MS = 5_000;

/** Opens the account's recorded positions at a fresh simulator; returns what was restored. */
export async function restoreSimulatedPositions(
  options: SimulatorRestoreOptions,
): Promise<RestoredPosition[]> {
  const restored: RestoredPosition[] = [];
  const call = simulatorCaller(options.simulatorUrl, options.keys);
  for (const record of await listPositions(options.db, options.accountId)) {
    const { symbol, quantity } = record.position;
    if (quantity.isZero()) continue;
    await call("POST", "/sim/quotes", { symbol, price: record.averageCost.toString() });
    const order = (await call("POST", "/v2/orders", {
      symbol,
      qty: quantity.abs().toString(),
      side: quantity.isPositive() ? "buy" : "sell",
      type: "market",
      time_in_force: "day",
      client_order_id: `sandbox-restore-${symbol}-${Date.now()}`,
    })) as { id: string; status: string };
    const deadline = Date.now() + FILL_WAIT_MS;
    let status = order.status;
    while (status !== "filled") {
      if (Date.now() > deadline) {
        throw new Error(`the simulator did not fill the ${symbol} position back (${status})`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      status = ((await call("GET", `/v2/orders/${order.id}`)) as { status: string }).status;
    }
    const mark = record.markPrice ?? record.averageCost;
    await call("POST", "/sim/quotes", { symbol, price: mark.toString() });
    restored.push({ symbol, quantity: quantity.toString() });
  }
  return restored;
}
