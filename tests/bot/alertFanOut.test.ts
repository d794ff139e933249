/**
 * The alert fan-out when Telegram fails for some traders: a trader who blocked the bot does not
 * keep the alert from the others, but a send that failed for a passing reason (the network,
 * Telegram's 5xx) fails the fan-out, so the intake answers 503 and the scanner's resend reaches
 * the traders who were missed, instead of the alert being marked sent with a trader never told.
 * A copy Telegram took whose record the database refused is a copy all the same: the resend
 * records it and does not send that trader another.
 */
import { sql } from "drizzle-orm";
import { type Api, GrammyError, HttpError } from "grammy";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { alertsFeature, createAlertNotifier } from "../../bot/features/alerts";
import { startFeature } from "../../bot/features/start";
import { type Alert, findAlert, listAlertMessages, recordAlert } from "../../db/alerts";
import { dec } from "../../domain/money";
import type { TestUser } from "../support/telegram";
import { type PlanDesk, startPlanDesk } from "./planDesk";

const ANN = 6701;
const BOB = 6702;

describe("the alert fan-out when Telegram fails for a trader", () => {
  let desk: PlanDesk;
  let ann: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    desk = await startPlanDesk({
      name: "alert-fan-out",
      users: { [ANN]: "trader", [BOB]: "admin" },
      features: [startFeature, alertsFeature],
      planning: { orderFollowMs: 0 },
    });
    ann = desk.emulator.user({ userId: ANN, firstName: "Ann" });
    bob = desk.emulator.user({ userId: BOB, firstName: "Bob" });
  });

  beforeEach(async () => {
    await desk.sim.control("/sim/reset", { cash: "100000", time: "2026-03-02T14:35:00Z" });
  });

  afterAll(async () => {
    await desk?.stop();
  });

  async function store(symbol: string): Promise<Alert> {
    await desk.sim.control("/sim/quotes", { symbol, bid: "189.99", ask: "190.01" });
    const { alert } = await recordAlert(
      desk.database.db,
      {
        externalId: `fan-out-${symbol}`,
        symbol,
        pattern: "VCP",
        score: dec("0.82"),
        entryPrice: dec("190.10"),
        stopPrice: dec("186.10"),
        targetPrice: dec("200.10"),
        payload: { id: `fan-out-${symbol}` },
      },
      desk.deps.now(),
    );
    return alert;
  }

  /** The bot's API, with sendMessage to Bob failing as `failure` says. */
  function apiFailingFor(chatId: number, failure: () => Error): Api {
    const api = desk.bot.api;
    return new Proxy(api, {
      get(target, property, receiver) {
        if (property === "sendMessage") {
          return (chat: number, ...rest: unknown[]) => {
            if (chat === chatId) return Promise.reject(failure());
            return (target.sendMessage as (...args: unknown[]) => unknown).call(
              target,
              chat,
              ...rest,
            );
          };
        }
        return Reflect.get(target, property, receiver);
      },
    });
  }

  it("fails the fan-out when a send failed for a passing reason, and the resend reaches only that trader", async () => {
    const alert = await store("SPY");
    const network = () =>
      new HttpError("Network request for 'sendMessage' failed!", new Error("ECONNRESET"));
    await expect(
      createAlertNotifier(apiFailingFor(BOB, network), desk.deps).onAlertAccepted(alert),
    ).rejects.toThrow(/not delivered/);
    await ann.waitForMessage({ match: "Pattern alert: SPY" });
    // Not marked sent: the intake answers 503 and the scanner sends it again.
    const stored = await findAlert(desk.database.db, alert.id);
    expect(stored?.status).toBe("received");

    const before = ann.messages().length;
    const again = await createAlertNotifier(desk.bot.api, desk.deps).onAlertAccepted(
      stored as Alert,
    );
    expect(again).toEqual({ status: "sent", recipients: 2 });
    await bob.waitForMessage({ match: "Pattern alert: SPY" });
    expect(ann.messages().slice(before)).toEqual([]);
    expect(await listAlertMessages(desk.database.db, alert.id)).toHaveLength(2);
  });

  it("sends the alert to the others when a trader blocked the bot, and marks it sent", async () => {
    const alert = await store("QQQ");
    const blocked = () =>
      new GrammyError(
        "Call to 'sendMessage' failed! (403: Forbidden: bot was blocked by the user)",
        { ok: false, error_code: 403, description: "Forbidden: bot was blocked by the user" },
        "sendMessage",
        {},
      );
    const delivery = await createAlertNotifier(
      apiFailingFor(BOB, blocked),
      desk.deps,
    ).onAlertAccepted(alert);
    expect(delivery).toEqual({ status: "sent", recipients: 1 });
    await ann.waitForMessage({ match: "Pattern alert: QQQ" });
    expect((await findAlert(desk.database.db, alert.id))?.status).toBe("sent");
  });

  it("does not send a trader a second copy when the first was sent but its record failed", async () => {
    const alert = await store("IWM");
    const db = desk.database.db;
    // Telegram takes Bob's copy; the database refuses to record it (a lost connection).
    await db.execute(
      sql.raw(
        `create function refuse_copy() returns trigger as $$ begin if new.chat_id = ${BOB} then raise exception 'connection lost'; end if; return new; end $$ language plpgsql`,
      ),
    );
    await db.execute(
      sql.raw(
        "create trigger refuse_copy before insert on alert_messages for each row execute function refuse_copy()",
      ),
    );
    try {
      // Not marked sent: the intake answers 503 and the scanner sends it again.
      await expect(
        createAlertNotifier(desk.bot.api, desk.deps).onAlertAccepted(alert),
      ).rejects.toThrow(/not recorded/);
    } finally {
      await db.execute(sql.raw("drop trigger refuse_copy on alert_messages"));
      await db.execute(sql.raw("drop function refuse_copy()"));
    }
    const copy = await bob.waitForMessage({ match: "Pattern alert: IWM" });
    await ann.waitForMessage({ match: "Pattern alert: IWM" });
    const stored = await findAlert(db, alert.id);
    expect(stored?.status).toBe("received");

    const before = { ann: ann.messages().length, bob: bob.messages().length };
    const again = await createAlertNotifier(desk.bot.api, desk.deps).onAlertAccepted(
      stored as Alert,
    );
    expect(again).toEqual({ status: "sent", recipients: 2 });
    expect({ ann: ann.messages().length, bob: bob.messages().length }).toEqual(before);
    // Bob's copy is recorded now, so it is settled with the others once the alert is decided.
    const copies = await listAlertMessages(db, alert.id);
    expect(copies.map((row) => [row.chatId, row.messageId])).toContainEqual([BOB, copy.messageId]);
  });

  it("settles the copies a failed fan-out sent when the resend finds the alert expired", async () => {
    const alert = await store("GOOGL");
    const network = () =>
      new HttpError("Network request for 'sendMessage' failed!", new Error("ECONNRESET"));
    await expect(
      createAlertNotifier(apiFailingFor(BOB, network), desk.deps).onAlertAccepted(alert),
    ).rejects.toThrow(/not delivered/);
    const copy = await ann.waitForMessage({ match: "Pattern alert: GOOGL" });

    // The scanner's resend comes after the alert's 30 minutes.
    desk.advanceClock(31 * 60_000);
    try {
      const stored = await findAlert(desk.database.db, alert.id);
      const again = await createAlertNotifier(desk.bot.api, desk.deps).onAlertAccepted(
        stored as Alert,
      );
      expect(again).toEqual({ status: "expired" });
    } finally {
      desk.advanceClock(-31 * 60_000);
    }
    // Ann's copy no longer offers Approve on an alert that can no longer be approved.
    const settled = ann.messages().find((message) => message.messageId === copy.messageId);
    expect(settled?.text).toMatch(/<b>Expired\.<\/b> Nothing was done\.$/);
    expect(settled?.buttons).toEqual([]);
  });

  it("settles a copy sent after another trader already approved the alert during the fan-out", async () => {
    const alert = await store("META");
    const api = desk.bot.api;
    // Ann's copy goes first; she approves it before the fan-out reaches Bob.
    const racing = new Proxy(api, {
      get(target, property, receiver) {
        if (property === "sendMessage") {
          return async (chat: number, ...rest: unknown[]) => {
            if (chat === BOB) {
              const toAnn = await ann.waitForMessage({ match: "Pattern alert: META" });
              expect((await ann.press(toAnn, "Approve")).text).toBe("Approved.");
            }
            return (target.sendMessage as (...args: unknown[]) => unknown).call(
              target,
              chat,
              ...rest,
            );
          };
        }
        return Reflect.get(target, property, receiver);
      },
    });
    await createAlertNotifier(racing, desk.deps).onAlertAccepted(alert);
    expect((await findAlert(desk.database.db, alert.id))?.status).toBe("approved");
    const toBob = await bob.waitForMessage({ match: "Pattern alert: META" });
    const settled = bob.messages().find((message) => message.messageId === toBob.messageId);
    expect(settled?.text).toMatch(
      /<b>Approved<\/b> by Ann: decision #\d+, \d+ META sent for execution\.$/,
    );
    expect(settled?.buttons).toEqual([]);
  });
});
