/**
 * Who may do what. TELEGRAM_ALLOWED_USERS names Telegram user ids (not chats) with a role; the
 * gate runs before every feature, so an update from anyone else goes no further. Strangers get a
 * short refusal and admins a notice they can act on, both rate-limited. Every button press is
 * checked against the role of the user who pressed it, whoever the message was sent to.
 */
import { Composer, type Context, type MiddlewareFn } from "grammy";
import type { AllowedUser, UserRole } from "../../app/config";
import { type CommandSpec, roleMayUse } from "../commands";
import type { BotContext } from "../context";
import type { FeatureSetup } from "../feature";
import { type CallbackAction, callbackCodeOf } from "../keyboards/callbackData";
import { code, escapeHtml } from "../views/html";
import { createWindowLimiter } from "../windowLimiter";

const HOUR_MS = 60 * 60 * 1000;
/** A stranger gets one refusal per 10 minutes, however much they send. */
const REFUSAL_WINDOW_MS = 10 * 60 * 1000;
/** Admins hear about each stranger at most once an hour... */
const NOTICE_PER_USER_WINDOW_MS = HOUR_MS;
/** ...and about 20 strangers an hour in all, so many accounts cannot flood them either. */
const NOTICES_PER_HOUR = 20;
const REMEMBERED_STRANGERS = 10_000;

/** TELEGRAM_ALLOWED_USERS as parsed by the configuration, keyed by user id. */
export function toAllowedUserMap(users: readonly AllowedUser[]): Map<number, UserRole> {
  return new Map(users.map((user) => [user.telegramUserId, user.role]));
}

/** Lets the update through only for the given roles; others are told their role cannot do it. */
export function requireRole(...roles: readonly UserRole[]): MiddlewareFn<BotContext> {
  return async (ctx, next) => {
    const role = ctx.deskUser.role;
    if (roles.includes(role)) return next();
    await refuse(ctx, `Your role (${role}) cannot do this.`);
  };
}

/** Lets the update through only in a private chat with the bot: trading stays out of groups. */
export function requirePrivateChat(): MiddlewareFn<BotContext> {
  return async (ctx, next) => {
    if (ctx.chat?.type === "private") return next();
    await refuse(ctx, "Trading and account commands work only in a private chat with me.");
  };
}

/** The guards a catalogued command runs behind: private chat if it says so, then its roles. */
export function guardCommand(spec: CommandSpec): MiddlewareFn<BotContext>[] {
  const roleGuard: MiddlewareFn<BotContext> = async (ctx, next) => {
    if (roleMayUse(spec, ctx.deskUser.role)) return next();
    await refuse(ctx, `/${spec.command} is not for your role (${ctx.deskUser.role}).`);
  };
  return spec.privateOnly ? [requirePrivateChat(), roleGuard] : [roleGuard];
}

async function refuse(ctx: Context, text: string): Promise<void> {
  if (ctx.callbackQuery !== undefined) {
    await ctx.answerCallbackQuery({ text, show_alert: true });
  } else if (ctx.chat !== undefined) {
    await ctx.reply(escapeHtml(text), { parse_mode: "HTML" });
  }
}

/** The gate: the first middleware of the bot. */
export function createAccessGate(setup: FeatureSetup): Composer<BotContext> {
  const { allowedUsers, logger, now } = setup.deps;
  const actionsByCode = new Map<string, CallbackAction>(
    setup.callbackActions.map((action) => [action.code, action]),
  );
  const refusals = createWindowLimiter({
    windowMs: REFUSAL_WINDOW_MS,
    perWindow: 1,
    maxKeys: REMEMBERED_STRANGERS,
    now,
  });
  const noticesPerStranger = createWindowLimiter({
    windowMs: NOTICE_PER_USER_WINDOW_MS,
    perWindow: 1,
    maxKeys: REMEMBERED_STRANGERS,
    now,
  });
  const noticesInAll = createWindowLimiter({
    windowMs: HOUR_MS,
    perWindow: NOTICES_PER_HOUR,
    maxKeys: 1,
    now,
  });
  const admins = [...allowedUsers].filter(([, role]) => role === "admin").map(([id]) => id);

  const composer = new Composer<BotContext>();
  composer.use(async (ctx, next) => {
    const from = ctx.from;
    // Channel posts and anonymous group admins carry no user whose role could be checked.
    if (from === undefined || from.is_bot) return;
    const role = allowedUsers.get(from.id);
    if (role === undefined) {
      await turnAwayStranger(ctx);
      return;
    }
    ctx.deskUser = { telegramUserId: from.id, role };
    const press = ctx.callbackQuery;
    if (press !== undefined) {
      const data = press.data;
      const action = data === undefined ? undefined : actionsByCode.get(callbackCodeOf(data));
      if (action === undefined) {
        await ctx.answerCallbackQuery({ text: "This button no longer works.", show_alert: true });
        return;
      }
      if (!action.roles.includes(role)) {
        logger.info(
          { telegramUserId: from.id, role, action: action.code },
          "button press refused for role",
        );
        await ctx.answerCallbackQuery({
          text: `Your role (${role}) cannot use this button.`,
          show_alert: true,
        });
        return;
      }
    }
    await next();
  });

  async function turnAwayStranger(ctx: Context): Promise<void> {
    const from = ctx.from;
    const attempt = describeAttempt(ctx);
    if (from === undefined || attempt === null) return;
    logger.info({ telegramUserId: from.id, attempt }, "update from a user not allowed");
    const key = String(from.id);
    if (ctx.callbackQuery !== undefined) {
      // Answering is required anyway (the button spins otherwise) and sends no message.
      await ctx.answerCallbackQuery({ text: "This bot is private.", show_alert: true });
    } else if (refusals.allow(key)) {
      await ctx.reply(
        `This bot is private. Your Telegram user id is ${code(String(from.id))}; an admin can allow it.`,
        { parse_mode: "HTML" },
      );
    }
    if (admins.length === 0 || !noticesPerStranger.allow(key)) return;
    if (!noticesInAll.allow("all")) {
      logger.warn({ telegramUserId: from.id }, "admin notice about a stranger skipped: hourly cap");
      return;
    }
    const notice = strangerNotice(ctx, attempt);
    for (const adminId of admins) {
      try {
        await ctx.api.sendMessage(adminId, notice, { parse_mode: "HTML" });
      } catch (error) {
        // An admin who never opened a chat with the bot cannot be messaged; the others still are.
        logger.warn({ adminId, err: error }, "admin notice about a stranger not delivered");
      }
    }
  }

  return composer;
}

/** What a stranger did, worded for the admin; null for updates not worth a reaction. */
function describeAttempt(ctx: Context): string | null {
  if (ctx.callbackQuery !== undefined) return "pressed a button";
  const message = ctx.message;
  if (message === undefined) return null;
  const inPrivate = ctx.chat?.type === "private";
  const text = message.text ?? "";
  if (text.startsWith("/")) {
    // Only the command itself: a stranger's free text is not relayed to admins.
    const [command = "", addressee] = (text.split(/\s/)[0] ?? "").split("@");
    // In a group, "/start@other_bot" is meant for another bot.
    if (addressee !== undefined && addressee.toLowerCase() !== ctx.me.username.toLowerCase()) {
      return null;
    }
    return `tried ${command.slice(0, 40)}`;
  }
  // In a group, ordinary talk is not addressed to the bot.
  return inPrivate ? "sent a message" : null;
}

function strangerNotice(ctx: Context, attempt: string): string {
  const from = ctx.from;
  if (from === undefined) return "";
  const id = String(from.id);
  const name = [from.first_name, from.last_name].filter((part) => part !== undefined).join(" ");
  const who = [from.username === undefined ? null : `@${from.username}`, name || null]
    .filter((part) => part !== null)
    .join(", ");
  const chat = ctx.chat;
  const where =
    chat === undefined || chat.type === "private"
      ? ""
      : ` in ${chat.type === "channel" ? "channel" : "group"} ${escapeHtml(chat.title)}`;
  return [
    `User ${code(id)}${who === "" ? "" : ` (${escapeHtml(who)})`} ${escapeHtml(attempt)}${where}.`,
    `To allow: add ${code(`${id}:trader`)} (or ${code(`${id}:viewer`)}) to TELEGRAM_ALLOWED_USERS and restart the bot.`,
  ].join("\n");
}
