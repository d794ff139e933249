/**
 * The exchange the engine tests drive: on a simulated clock with sequential order ids, with the
 * two steps they take most, quoting a symbol and submitting an order that must be accepted.
 */
import { SimClock } from "../../../sim/engine/clock";
import { Dec } from "../../../sim/engine/decimal";
import { Exchange } from "../../../sim/engine/exchange";
import { submitOrder } from "../../../sim/engine/orderEntry";

export function openTestExchange(time = "2026-03-02T15:00:00Z", cash = "100000") {
  const clock = new SimClock(new Date(time), () => 0);
  let n = 0;
  const ex = new Exchange(
    {
      now: () => clock.now(),
      newId: () => `00000000-0000-4000-8000-${String(++n).padStart(12, "0")}`,
    },
    { cash },
  );
  const quote = (symbol: string, bid: string, ask: string) =>
    ex.applyQuote(symbol, { bid: new Dec(bid), ask: new Dec(ask) });
  /** A day order, market unless `body` says otherwise; throws when the exchange refuses it. */
  const submit = (body: Record<string, unknown>) => {
    const r = submitOrder(ex, { time_in_force: "day", type: "market", ...body });
    if (!r.ok) throw new Error(JSON.stringify(r.body));
    return r.value as { id: string };
  };
  return { ex, clock, quote, submit };
}
