import { describe, expect, it } from "vitest";
import { buyingPower } from "../../../sim/engine/account";
import { remainingQty } from "../../../sim/engine/book";
import { cents, Dec, ZERO } from "../../../sim/engine/decimal";
import type { Exchange } from "../../../sim/engine/exchange";
import {
  cancelAllOrders,
  cancelOrder,
  closePosition,
  replaceOrder,
  submitOrder,
} from "../../../sim/engine/orderEntry";
import { seededRandom } from "../../../sim/engine/randomWalk";
import type { TradeEvent } from "../../../sim/engine/types";
import { openTestExchange } from "./exchangeFixture";

/**
 * The reserve the exchange keeps running, added up afresh: every open order that adds exposure, at
 * its remaining quantity times its limit, stop or market price.
 */
function reservedFromScratch(ex: Exchange): Dec {
  let total = ZERO;
  for (const o of ex.book.open()) {
    if (!o.positionIntent.endsWith("_to_open")) continue;
    total = total.plus(remainingQty(o).times(ex.estimatePrice(o)));
  }
  return total;
}

function setup(cash = "100000") {
  const { ex, clock, quote, submit } = openTestExchange(undefined, cash);
  const events = new Map<TradeEvent, number>();
  let checkedEvents = 0;
  // Checked at every event too: the reserve is current before each change is announced.
  ex.onTradeUpdate((u) => {
    events.set(u.event, (events.get(u.event) ?? 0) + 1);
    expect(ex.reservedBuyingPower().toFixed()).toBe(reservedFromScratch(ex).toFixed());
    checkedEvents += 1;
  });
  const check = () => {
    const scratch = reservedFromScratch(ex);
    expect(ex.reservedBuyingPower().toFixed()).toBe(scratch.toFixed());
    const power = buyingPower(ex.account, ex.figures(), scratch);
    expect(ex.buyingPower().toFixed()).toBe(power.toFixed());
    expect(ex.accountJson().buying_power).toBe(cents(power));
  };
  return { ex, clock, events, check, quote, submit, checkedEvents: () => checkedEvents };
}

describe("reserved buying power", () => {
  it("follows submits, partial fills, replaces, cancels and short sells", () => {
    const { ex, check, quote, submit } = setup();
    const reserved = () => ex.reservedBuyingPower().toFixed();
    quote("AAPL", "100.00", "100.10");
    quote("MSFT", "310.00", "310.10");
    quote("TSLA", "250.00", "250.02");
    const aapl = submit({
      symbol: "AAPL",
      side: "buy",
      qty: "10",
      type: "limit",
      limit_price: "95",
    });
    expect(reserved()).toBe("950");
    check();
    const msft = submit({
      symbol: "MSFT",
      side: "buy",
      qty: "5",
      type: "limit",
      limit_price: "300",
    });
    expect(reserved()).toBe("2450");
    check();

    ex.liquidity.set("AAPL", new Dec("4"));
    quote("AAPL", "94.90", "95.00"); // 4 of 10 fill at 95.00
    expect(ex.book.get(aapl.id)?.status).toBe("partially_filled");
    expect(reserved()).toBe("2070"); // 6 x 95 + 5 x 300
    check();

    const replaced = replaceOrder(ex, aapl.id, { qty: "3", limit_price: "94" });
    if (!replaced.ok) throw new Error(JSON.stringify(replaced.body));
    expect(reserved()).toBe("1782"); // 3 x 94 + 5 x 300
    check();

    expect(cancelOrder(ex, msft.id).ok).toBe(true);
    expect(reserved()).toBe("282");
    check();

    submit({ symbol: "TSLA", side: "sell", qty: "2", type: "limit", limit_price: "260" });
    expect(reserved()).toBe("802"); // a short sale reserves its cost too
    check();
    // cash 99620 + 4 x 94.95 held, less the gross 379.80 and the 802 reserved
    expect(ex.accountJson()).toMatchObject({ buying_power: "98818.00" });

    // A resting market order (market closed) is priced from the quote and follows it.
    ex.marketOverride = "closed";
    submit({ symbol: "MSFT", side: "buy", qty: "2" });
    expect(reserved()).toBe("1422.2"); // + 2 x 310.10
    quote("MSFT", "320.00", "320.50");
    expect(reserved()).toBe("1443"); // + 2 x 320.50
    check();
  });

  it("stays equal to a fresh sum through a random week of every kind of order", () => {
    const { ex, clock, events, check, quote, checkedEvents } = setup("250000");
    const random = seededRandom(20260302);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const symbols = ["AAPL", "MSFT", "TSLA"] as const;
    const mid = new Map<string, number>([
      ["AAPL", 10000],
      ["MSFT", 30000],
      ["TSLA", 25000],
    ]);
    const price = (symbol: string, offsetCents: number) =>
      new Dec((mid.get(symbol) ?? 10000) + offsetCents).div(100).toFixed(2);
    const openOrder = () => {
      const open = ex.book.open();
      return open.length > 0 ? pick(open) : undefined;
    };

    /** A request of any class, type and time in force, near the market; some are refused. */
    const randomOrder = (symbol: string): Record<string, unknown> => {
      const side = pick(["buy", "sell"] as const);
      const sign = side === "buy" ? 1 : -1;
      const orderClass = pick(["simple", "simple", "simple", "bracket", "oto", "oco"]);
      const simple = orderClass === "simple";
      const types = ["market", "limit", "limit", "stop", "stop_limit"];
      const type =
        orderClass === "oco" ? "limit" : pick(simple ? [...types, "trailing_stop"] : types);
      const tifs = ["day", "day", "gtc", "gtc"];
      const away = sign * -Math.floor(random() * 100);
      const body: Record<string, unknown> = {
        symbol,
        side,
        type,
        time_in_force: pick(
          simple && type !== "trailing_stop" ? [...tifs, "ioc", "fok", "opg", "cls"] : tifs,
        ),
        order_class: orderClass,
        qty: String(1 + Math.floor(random() * 20)),
      };
      if (type === "limit" || type === "stop_limit") body.limit_price = price(symbol, away);
      if (type === "stop" || type === "stop_limit") body.stop_price = price(symbol, -away);
      if (type === "trailing_stop") body.trail_price = "1.50";
      if (simple && type === "market" && random() < 0.2) {
        // Fractional and notional orders are day market orders.
        body.time_in_force = "day";
        if (random() < 0.5) body.qty = "0.37";
        else {
          delete body.qty;
          body.notional = "1234.56";
        }
      }
      if (simple && type === "limit" && random() < 0.2) {
        body.time_in_force = "day";
        body.extended_hours = true;
      }
      if (orderClass === "bracket" || orderClass === "oto") {
        body.take_profit = { limit_price: price(symbol, sign * 400) };
        body.stop_loss = { stop_price: price(symbol, -sign * 400) };
        if (orderClass === "oto") delete body[pick(["take_profit", "stop_loss"])];
      }
      if (orderClass === "oco") {
        body.take_profit = { limit_price: price(symbol, -sign * 300) };
        body.stop_loss = { stop_price: price(symbol, sign * 300) };
      }
      return body;
    };

    const step = () => {
      const symbol = pick(symbols);
      const roll = random();
      if (roll < 0.25) {
        mid.set(symbol, (mid.get(symbol) ?? 10000) + Math.floor(random() * 301) - 150);
        quote(symbol, price(symbol, -1), price(symbol, 1 + Math.floor(random() * 3)));
      } else if (roll < 0.65) {
        if (random() < 0.05) ex.rejectNext = 1;
        submitOrder(ex, randomOrder(symbol));
      } else if (roll < 0.73) {
        const o = openOrder();
        if (o) cancelOrder(ex, o.id);
        // Cancels held on some days: the venue confirms them now and then.
        if (random() < 0.3) ex.releaseCancels();
      } else if (roll < 0.88) {
        const o = openOrder();
        if (!o) return;
        const patch: Record<string, unknown> = {};
        if (random() < 0.6) patch.qty = String(1 + Math.floor(random() * 25));
        const move = () => price(o.symbol, Math.floor(random() * 400) - 200);
        if (o.limitPrice) patch.limit_price = move();
        if (o.stopPrice && o.type !== "trailing_stop") patch.stop_price = move();
        replaceOrder(ex, o.id, patch);
      } else if (roll < 0.95) {
        const shares = Math.floor(random() * 8);
        if (shares === 0) ex.liquidity.delete(symbol);
        else ex.liquidity.set(symbol, new Dec(shares));
      } else if (roll < 0.98) {
        ex.marketOverride = pick([null, null, null, "open", "closed"] as const);
      } else if (roll < 0.99) {
        closePosition(ex, symbol, { percentage: "50" });
      } else {
        cancelAllOrders(ex);
      }
    };

    for (const s of symbols) quote(s, price(s, -1), price(s, 1));
    check();
    // Five sessions, each walked from 07:00 to 19:30 New York: pre-market, open, close, after hours
    // and the 20:00 expiry of extended-hours day orders on the way to the next morning.
    const days = ["2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06"];
    for (const [i, day] of days.entries()) {
      clock.set(new Date(`${day}T12:00:00Z`));
      ex.sync();
      ex.marketOverride = null;
      ex.eventOptions = {
        pendingNew: i % 2 === 0,
        doneForDay: i % 2 === 1,
        holdCancels: i % 3 === 1,
      };
      check();
      for (let n = 0; n < 600; n += 1) {
        clock.advance(75_000);
        ex.sync();
        step();
        check();
      }
    }

    // The week went through every path that changes what an order reserves.
    for (const event of [
      "new",
      "fill",
      "partial_fill",
      "canceled",
      "expired",
      "replaced",
      "rejected",
      "pending_new",
      "done_for_day",
      "pending_cancel",
      "pending_replace",
    ] as const) {
      expect(events.get(event) ?? 0, event).toBeGreaterThan(0);
    }
    expect(checkedEvents()).toBeGreaterThan(2000);
  });
});
