/**
 * The manual switches: /halt (no new exposure), /reduce (exits only), /resume (admins, confirmed,
 * with an optional reason, asking the daily-loss check first) and /flatten (confirmed: halt, then
 * close every position through the jobs). Each change of the trading state is persisted with who
 * made it and when (db/brokerAccounts.changeTradingState), so every path that places orders sees it.
 */
import { randomBytes } from "node:crypto";
import { Composer } from "grammy";
import { findBrokerAccount, tradingStateOf } from "../../db/brokerAccounts";
import { appendLog } from "../../db/executionLog";
import { listPositions } from "../../db/positions";
import { setTradingStateManually, type TradingMode } from "../../domain/tradingState";
import { commandSpec } from "../commands";
import type { BotContext } from "../context";
import type { BotFeature } from "../feature";
import { confirmKeyboard } from "../keyboards/confirm";
import {
  FLATTEN_CONFIRMATION,
  RESUME_CONFIRMATION,
  TRADING_CONFIRMATION_MS,
} from "../keyboards/tradingConfirmations";
import { sendHtml } from "../sendHtml";
import { dateTime } from "../views/format";
import { bold, escapeHtml } from "../views/html";
import { guardCommand } from "./access";
import { handleConfirmation } from "./confirm";
import { actorName, commandArguments, deskScopeOf } from "./deskContext";
import { alwaysAllowResume } from "./deskPorts";
import { switchTradingState } from "./stateAnnouncements";

const MODE_WORDS: Record<TradingMode, string> = {
  ACTIVE: "active",
  REDUCING: "reduce-only (exits only)",
  HALTED: "halted",
};

/** Reasons given with /resume wait here for the press; a restart forgets them (ask again). */
const REMEMBERED_REASONS = 200;

export const tradingSwitchesFeature: BotFeature = {
  name: "trading switches",
  commands: ["halt", "reduce", "resume", "flatten"],
  callbackActions: [RESUME_CONFIRMATION, FLATTEN_CONFIRMATION],
  create({ deps }) {
    const composer = new Composer<BotContext>();
    const resumeReasons = new Map<string, string | null>();

    const switchTo = async (ctx: BotContext, mode: TradingMode, command: string) => {
      const scope = await deskScopeOf(ctx, deps);
      if (scope === null) return;
      const now = deps.now();
      const given = commandArguments(ctx);
      const reason = `/${command} by ${actorName(ctx)}${given ? `: ${given}` : ""}`;
      const change = await switchTradingState(scope.db, {
        accountId: scope.account.id,
        decide: (current) =>
          current.mode === mode ? current : setTradingStateManually(mode, reason, now.getTime()),
        actor: scope.actor,
        actorChatId: ctx.deskUser.telegramUserId,
        at: now,
      });
      if (change === null) return;
      if (!change.changed) {
        // The reason is a trader's free text, up to a whole message: split rather than fail.
        await sendHtml(
          ctx.api,
          ctx.chat?.id ?? ctx.deskUser.telegramUserId,
          `Already ${MODE_WORDS[mode]} since ${dateTime(new Date(change.before.since), scope.timeZone)}: ${escapeHtml(change.before.reason)}`,
        );
        return;
      }
      let effect =
        mode === "HALTED"
          ? "New entries are refused and working entries cancelled; stops and targets stay in place."
          : "Only orders that reduce a position go through.";
      if (mode === "HALTED") {
        try {
          if (deps.trading === undefined) throw new Error("no trading requests port");
          await deps.trading.cancelWorkingEntries({ accountId: scope.account.id, reason });
        } catch (error) {
          deps.logger.error(
            { err: error, accountId: scope.account.id },
            "halt: entries not handed over",
          );
          effect =
            "New entries are refused; stops and targets stay in place. Working entries could not be handed over for cancelling: check /orders.";
        }
      }
      await ctx.reply(
        `${bold(`Trading ${MODE_WORDS[mode]}.`)} ${effect}\nWas ${MODE_WORDS[change.before.mode]}. /resume (admin) lifts it.`,
        { parse_mode: "HTML" },
      );
    };

    composer.command("halt", ...guardCommand(commandSpec("halt")), (ctx) =>
      switchTo(ctx, "HALTED", "halt"),
    );
    composer.command("reduce", ...guardCommand(commandSpec("reduce")), (ctx) =>
      switchTo(ctx, "REDUCING", "reduce"),
    );

    composer.command("resume", ...guardCommand(commandSpec("resume")), async (ctx) => {
      const scope = await deskScopeOf(ctx, deps);
      if (scope === null) return;
      const state = tradingStateOf(scope.account);
      if (state.mode === "ACTIVE") {
        await ctx.reply("Trading is already active.");
        return;
      }
      const reason = commandArguments(ctx);
      const request = randomBytes(4).toString("hex");
      resumeReasons.set(request, reason === "" ? null : reason);
      if (resumeReasons.size > REMEMBERED_REASONS) {
        const oldest = resumeReasons.keys().next();
        if (oldest.done !== true) resumeReasons.delete(oldest.value);
      }
      const expiresAt = new Date(deps.now().getTime() + TRADING_CONFIRMATION_MS);
      // The halt's reason and this one are free text: split past 4096, buttons on the last part.
      await sendHtml(
        ctx.api,
        ctx.chat?.id ?? ctx.deskUser.telegramUserId,
        [
          `${bold("Resume trading?")} The account is ${MODE_WORDS[state.mode]} since ${dateTime(
            new Date(state.since),
            scope.timeZone,
          )}: ${escapeHtml(state.reason)}`,
          reason === "" ? "No reason given." : `Reason: ${escapeHtml(reason)}`,
          "This confirmation expires in 60 seconds.",
        ].join("\n"),
        {
          reply_markup: confirmKeyboard(
            RESUME_CONFIRMATION,
            `${scope.account.id}-${request}`,
            expiresAt,
            { confirm: "Resume", cancel: "Keep it" },
          ),
        },
      );
    });

    composer.use(
      handleConfirmation(RESUME_CONFIRMATION, {
        now: deps.now,
        async confirm(ctx, press) {
          const [accountText = "", request = ""] = press.subject.split("-");
          const db = deps.db;
          const account =
            db === undefined ? null : await findBrokerAccount(db, Number(accountText));
          if (db === undefined || account === null)
            return "<b>Not resumed:</b> the account is gone.";
          if (!resumeReasons.has(request)) {
            return "<b>Not resumed:</b> this request was lost in a restart. Send /resume again.";
          }
          const reason = resumeReasons.get(request) ?? null;
          resumeReasons.delete(request);
          const check = deps.dailyLossAllowsResume ?? alwaysAllowResume;
          const verdict = await check({ accountId: account.id, reason });
          if (!verdict.allowed) return `<b>Not resumed:</b> ${escapeHtml(verdict.message)}`;
          const now = deps.now();
          const why = `/resume by ${actorName(ctx)}${reason === null ? "" : `: ${reason}`}`;
          const change = await switchTradingState(db, {
            accountId: account.id,
            decide: (current) =>
              current.mode === "ACTIVE"
                ? current
                : setTradingStateManually("ACTIVE", why, now.getTime()),
            actor: `user:${ctx.deskUser.telegramUserId}`,
            actorChatId: ctx.deskUser.telegramUserId,
            at: now,
          });
          if (change === null || !change.changed) return "Trading was already active.";
          return `<b>Trading resumed.</b> Was ${MODE_WORDS[change.before.mode]}.`;
        },
      }),
    );

    composer.command("flatten", ...guardCommand(commandSpec("flatten")), async (ctx) => {
      const scope = await deskScopeOf(ctx, deps);
      if (scope === null) return;
      if (deps.trading === undefined) {
        await ctx.reply("Flattening is not connected on this desk.");
        return;
      }
      const open = (await listPositions(scope.db, scope.account.id)).filter(
        (record) => !record.position.quantity.isZero(),
      );
      const expiresAt = new Date(deps.now().getTime() + TRADING_CONFIRMATION_MS);
      const symbols = open.map((record) => escapeHtml(record.position.symbol)).join(", ");
      await ctx.reply(
        [
          `${bold("Flatten?")} Trading halts, then ${
            open.length === 0
              ? "there is no open position to close."
              : `${open.length} position${open.length === 1 ? "" : "s"} close at market: ${symbols}.`
          }`,
          "This confirmation expires in 60 seconds.",
        ].join("\n"),
        {
          parse_mode: "HTML",
          reply_markup: confirmKeyboard(FLATTEN_CONFIRMATION, String(scope.account.id), expiresAt, {
            confirm: "Flatten",
            cancel: "Cancel",
          }),
        },
      );
    });

    composer.use(
      handleConfirmation(FLATTEN_CONFIRMATION, {
        now: deps.now,
        async confirm(ctx, press) {
          const db = deps.db;
          const trading = deps.trading;
          const accountId = Number(press.subject);
          if (db === undefined || trading === undefined) return "<b>Not done:</b> not connected.";
          const now = deps.now();
          const actor = `user:${ctx.deskUser.telegramUserId}`;
          const change = await switchTradingState(db, {
            accountId,
            decide: (current) =>
              current.mode === "HALTED"
                ? current
                : setTradingStateManually("HALTED", `/flatten by ${actorName(ctx)}`, now.getTime()),
            actor,
            actorChatId: ctx.deskUser.telegramUserId,
            at: now,
          });
          if (change === null) return "<b>Not done:</b> the account is gone.";
          const open = (await listPositions(db, accountId)).filter(
            (record) => !record.position.quantity.isZero(),
          );
          const requestId = `flatten-${press.subject}-${ctx.callbackQuery?.message?.message_id ?? 0}`;
          try {
            await trading.flatten({ accountId, requestedBy: actor, requestId });
          } catch (error) {
            deps.logger.error({ err: error, requestId }, "flatten not handed to the jobs");
            return "<b>Trading halted</b>, but closing the positions could not be handed over for execution. Close them with /close or at the broker.";
          }
          await appendLog(db, {
            entity: "account",
            entityId: accountId,
            event: "FLATTEN_REQUESTED",
            details: { symbols: open.map((record) => record.position.symbol), requestId },
            source: actor,
            accountId,
            occurredAt: now,
          });
          return `<b>Flatten requested.</b> Trading halted; ${open.length} position${
            open.length === 1 ? "" : "s"
          } closing at market. Each fill will be reported here.`;
        },
      }),
    );

    return composer;
  },
};
