import type { Alpaca } from "@alpacahq/alpaca-trade-api";

export interface RecordedUpdate {
  event: string;
  executionId?: string;
  price?: string;
  qty?: string;
  positionQty?: string;
  orderId: string;
  clientOrderId: string;
  status: string;
}

/** Connects the SDK's trade stream to the simulator and records every trade update. */
export async function recordTradeUpdates(
  alpaca: Alpaca,
  streamUrl: string,
  options: Record<string, unknown> = {},
) {
  const stream = alpaca.trading.stream({ url: streamUrl, ...options });
  const updates: RecordedUpdate[] = [];
  let subscribed: () => void = () => {};
  const listening = new Promise<void>((resolve) => {
    subscribed = resolve;
  });
  stream.on("subscription", () => subscribed());
  stream.onTradeUpdate((u) => {
    const order = u.order as unknown as { id: string; clientOrderId: string; status: string };
    updates.push({
      event: u.event,
      executionId: u.executionId as string | undefined,
      price: u.price as string | undefined,
      qty: u.qty as string | undefined,
      positionQty: u.positionQty as string | undefined,
      orderId: order.id,
      clientOrderId: order.clientOrderId,
      status: String(order.status),
    });
  });
  stream.subscribeTradeUpdates();
  stream.connect();
  await listening;

  /** Waits until `predicate` holds for the recorded updates (polling; fails after `ms`). */
  const waitFor = async (predicate: (u: RecordedUpdate[]) => boolean, ms = 3000) => {
    const deadline = Date.now() + ms;
    while (!predicate(updates)) {
      if (Date.now() > deadline) {
        throw new Error(
          `stream condition not met; got ${JSON.stringify(updates.map((u) => u.event))}`,
        );
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return { stream, updates, waitFor, close: () => stream.disconnect() };
}
