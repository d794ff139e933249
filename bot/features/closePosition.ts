/**
 * /close SYMBOL [PCT]: closes a position, whole or a percentage, after a confirmation that
 * expires. The confirmed close is recorded in the audit trail and handed to the jobs, which send
 * the exit order (MANUAL_EXIT); the fill is reported like any other.
 */
import { eq } from "drizzle-orm";
import { Composer } from "grammy";
import { appendLog } from "../../db/executionLog";
import { findPosition, positionRecordOfRow } from "../../db/positions";
import { positions } from "../../db/schema";
import { Decimal, HUNDRED, parseDecimal, ZERO } from "../../domain/money";
import { positionSide } from "../../domain/position";
import { commandSpec } from "../commands";
import type { BotContext } from "../context";
import { DECIMAL_POINT_HINT, hasComma } from "../decimalText";
import type { BotDeps, BotFeature } from "../feature";
import { confirmKeyboard } from "../keyboards/confirm";
import {
  CLOSE_CONFIRMATION,
  closeSubject,
  readCloseSubject,
  TRADING_CONFIRMATION_MS,
} from "../keyboards/tradingConfirmations";
import { quantity } from "../views/format";
import { bold, escapeHtml } from "../views/html";
import { guardCommand } from "./access";
import { handleConfirmation } from "./confirm";
import { commandArguments, deskScopeOf } from "./deskContext";

const USAGE = "Usage: /close SYMBOL [PCT], e.g. /close AAPL or /close AAPL 50.";

/** The quantity a percentage closes: whole shares of a whole-share position, rounded down. */
export function closingQuantity(open: Decimal, percent: string | null): Decimal {
  if (percent === null) return open;
  const part = open.times(new Decimal(percent)).div(HUNDRED);
  return open.isInteger() ? part.floor() : part;
}

/** Reads `SYMBOL [PCT]`: a symbol and a percentage in (0, 100], or a message. */
export function readCloseArguments(
  text: string,
): { readonly symbol: string; readonly percent: string | null } | { readonly error: string } {
  const [rawSymbol, rawPercent, ...rest] = text.split(/\s+/).filter((word) => word !== "");
  if (rawSymbol === undefined || rest.length > 0) return { error: USAGE };
  const symbol = rawSymbol.toUpperCase();
  if (!/^[A-Z][A-Z0-9.]{0,9}$/.test(symbol)) return { error: `${USAGE} (symbol?)` };
  if (rawPercent === undefined) return { symbol, percent: null };
  const percent = parseDecimal(rawPercent.replace(/%$/, ""));
  if (percent === null && hasComma(rawPercent)) {
    return {
      error: `The percentage must be above 0 and at most 100, such as 50 or 12.5. ${DECIMAL_POINT_HINT}`,
    };
  }
  if (percent === null || percent.lte(ZERO) || percent.gt(HUNDRED) || percent.decimalPlaces() > 4) {
    return { error: "The percentage must be above 0 and at most 100." };
  }
  return { symbol, percent: percent.eq(HUNDRED) ? null : percent.toFixed() };
}

export const closePositionFeature: BotFeature = {
  name: "close position",
  commands: ["close"],
  callbackActions: [CLOSE_CONFIRMATION],
  create({ deps }) {
    const composer = new Composer<BotContext>();

    composer.command("close", ...guardCommand(commandSpec("close")), async (ctx) => {
      const parsed = readCloseArguments(commandArguments(ctx));
      if ("error" in parsed) {
        await ctx.reply(parsed.error);
        return;
      }
      const scope = await deskScopeOf(ctx, deps);
      if (scope === null) return;
      if (deps.trading === undefined) {
        await ctx.reply("Closing is not connected on this desk.");
        return;
      }
      const record = await findPosition(scope.db, scope.account.id, parsed.symbol);
      if (record === null || record.position.quantity.isZero()) {
        await ctx.reply(`There is no open ${parsed.symbol} position. /positions lists them.`);
        return;
      }
      const open = record.position.quantity.abs();
      const closing = closingQuantity(open, parsed.percent);
      if (closing.isZero()) {
        await ctx.reply(
          `${parsed.percent}% of ${quantity(open)} shares is less than one share: nothing to close.`,
        );
        return;
      }
      const expiresAt = new Date(deps.now().getTime() + TRADING_CONFIRMATION_MS);
      await ctx.reply(
        [
          `${bold(`Close ${parsed.symbol}?`)} ${positionSide(record.position)} ${quantity(open)}: ${
            parsed.percent === null
              ? "all of it"
              : `${escapeHtml(parsed.percent)}% (${quantity(closing)})`
          } at market.`,
          "This confirmation expires in 60 seconds.",
        ].join("\n"),
        {
          parse_mode: "HTML",
          reply_markup: confirmKeyboard(
            CLOSE_CONFIRMATION,
            closeSubject(record.id, parsed.percent),
            expiresAt,
            { confirm: "Close", cancel: "Keep it" },
          ),
        },
      );
    });

    composer.use(handleCloseConfirmation(deps));
    return composer;
  },
};

function handleCloseConfirmation(deps: BotDeps) {
  return handleConfirmation(CLOSE_CONFIRMATION, {
    now: deps.now,
    async confirm(ctx, press) {
      const subject = readCloseSubject(press.subject);
      const db = deps.db;
      const trading = deps.trading;
      if (subject === null || db === undefined || trading === undefined) {
        return "<b>Not done:</b> this button no longer works.";
      }
      const [row] = await db.select().from(positions).where(eq(positions.id, subject.positionId));
      const record = row === undefined ? null : positionRecordOfRow(row);
      if (record === null || record.position.quantity.isZero()) {
        return "<b>Not done:</b> the position is already closed.";
      }
      const now = deps.now();
      const actor = `user:${ctx.deskUser.telegramUserId}`;
      const requestId = `close-${press.subject}-${ctx.callbackQuery?.message?.message_id ?? 0}`;
      const closing = closingQuantity(record.position.quantity.abs(), subject.percent);
      try {
        await trading.closePosition({
          accountId: record.accountId,
          symbol: record.position.symbol,
          percent: subject.percent,
          requestedBy: actor,
          requestId,
        });
      } catch (error) {
        deps.logger.error({ err: error, requestId }, "close request not handed to the jobs");
        return "<b>Not done:</b> the close could not be handed over for execution. Try again, or close it at the broker.";
      }
      await appendLog(db, {
        entity: "position",
        entityId: record.id,
        event: "CLOSE_REQUESTED",
        details: {
          symbol: record.position.symbol,
          percent: subject.percent,
          quantity: closing.toFixed(),
          requestId,
        },
        source: actor,
        accountId: record.accountId,
        tradeId: record.tradeId,
        occurredAt: now,
      });
      return `<b>Close requested:</b> ${escapeHtml(record.position.symbol)} ${quantity(
        closing,
      )} at market. The fill will be reported here.`;
    },
  });
}
