import { type Dec, ZERO } from "./decimal";
import { OPEN_STATUSES, type OrderSide, type OrderStatus, type SimOrder } from "./types";

/** Statuses an order never leaves. */
const FINAL_STATUSES: ReadonlySet<OrderStatus> = new Set([
  "filled",
  "canceled",
  "expired",
  "replaced",
  "rejected",
]);

/** Every order the account ever had, by broker id and client order id, with the group relations. */
export class OrderBook {
  private readonly orders = new Map<string, SimOrder>();
  private readonly byClientId = new Map<string, string>();
  /**
   * Orders not yet seen in a final status, in the order they were added, by symbol. A final
   * status is never left, so an order found final is dropped here and walks stay as short as the
   * open orders instead of every order the account ever had.
   */
  private readonly live = new Map<string, SimOrder>();
  private readonly liveBySymbol = new Map<string, Map<string, SimOrder>>();
  private seq = 0;

  nextSeq(): number {
    this.seq += 1;
    return this.seq;
  }

  /** Files an order. The exchange adds through `Exchange.addOrder`, which also books its reserve. */
  add(order: SimOrder): void {
    this.orders.set(order.id, order);
    this.byClientId.set(order.clientOrderId, order.id);
    this.live.set(order.id, order);
    let symbolOrders = this.liveBySymbol.get(order.symbol);
    if (!symbolOrders) {
      symbolOrders = new Map();
      this.liveBySymbol.set(order.symbol, symbolOrders);
    }
    symbolOrders.set(order.id, order);
  }

  /** The live orders (of one symbol, or all), dropping those that reached a final status. */
  private liveOrders(symbol?: string): SimOrder[] {
    const source = symbol === undefined ? this.live : this.liveBySymbol.get(symbol);
    const found: SimOrder[] = [];
    if (!source) return found;
    for (const o of source.values()) {
      if (FINAL_STATUSES.has(o.status)) {
        this.live.delete(o.id);
        this.liveBySymbol.get(o.symbol)?.delete(o.id);
      } else {
        found.push(o);
      }
    }
    return found;
  }

  get(id: string): SimOrder | undefined {
    return this.orders.get(id);
  }

  byClientOrderId(clientOrderId: string): SimOrder | undefined {
    const id = this.byClientId.get(clientOrderId);
    return id ? this.orders.get(id) : undefined;
  }

  hasClientOrderId(clientOrderId: string): boolean {
    return this.byClientId.has(clientOrderId);
  }

  all(): SimOrder[] {
    return [...this.orders.values()];
  }

  clear(): void {
    this.orders.clear();
    this.byClientId.clear();
    this.live.clear();
    this.liveBySymbol.clear();
  }

  /** The group's root (entry of a bracket/OTO, take-profit of an OCO) and its legs. */
  group(order: SimOrder): SimOrder[] {
    const root = order.parentId ? this.orders.get(order.parentId) : order;
    if (!root) return [order];
    const legs = root.legIds.map((id) => this.orders.get(id)).filter((o): o is SimOrder => !!o);
    return [root, ...legs];
  }

  legsOf(order: SimOrder): SimOrder[] {
    return order.legIds.map((id) => this.orders.get(id)).filter((o): o is SimOrder => !!o);
  }

  /**
   * Orders that can execute now: working, or held exit legs armed by a filled entry, or either of
   * them with a cancel or replace request outstanding (it may still fill until the venue confirms).
   */
  working(symbol: string): SimOrder[] {
    return this.liveOrders(symbol)
      .filter(
        (o) =>
          executes(o.status, o.armed) ||
          (isPendingRequest(o.status) &&
            o.pendingFrom !== null &&
            executes(o.pendingFrom, o.armed)),
      )
      .sort((a, b) => a.seq - b.seq);
  }

  /** Open orders (of one symbol, or all), in the order they were added. */
  open(symbol?: string): SimOrder[] {
    return this.liveOrders(symbol).filter((o) => OPEN_STATUSES.has(o.status));
  }

  /**
   * Quantity already promised to closing orders on one side: one exit group (a take-profit and its
   * stop) promises its larger remaining quantity once. Legs of unfilled entries promise nothing.
   */
  reservedToClose(symbol: string, side: OrderSide): Dec {
    const byGroup = new Map<string, Dec>();
    for (const o of this.open(symbol)) {
      if (o.side !== side) continue;
      if (!o.positionIntent.endsWith("_to_close")) continue;
      const status = isPendingRequest(o.status) ? o.pendingFrom : o.status;
      if (status === "held" && !o.armed) continue;
      const key = o.role === "entry" ? o.id : (o.parentId ?? o.id);
      const remaining = remainingQty(o);
      const prior = byGroup.get(key) ?? ZERO;
      byGroup.set(key, remaining.gt(prior) ? remaining : prior);
    }
    let total = ZERO;
    for (const q of byGroup.values()) total = total.plus(q);
    return total;
  }
}

export function remainingQty(o: SimOrder): Dec {
  return (o.qty ?? ZERO).minus(o.filledQty);
}

export function isOpen(o: SimOrder): boolean {
  return OPEN_STATUSES.has(o.status);
}

/** Whether an order in this status (armed or not) executes against the quote. */
function executes(status: OrderStatus, armed: boolean): boolean {
  return status === "new" || status === "partially_filled" || (status === "held" && armed);
}

/** Whether a cancel or replace request is outstanding. */
export function isPendingRequest(status: OrderStatus): boolean {
  return status === "pending_cancel" || status === "pending_replace";
}
