/**
 * Delivers outbox notices to Telegram: the `NoticeSender` the notify job hands rows to.
 *
 * - Renders each notice as HTML (bot/views/notices.ts) and honours the reader's settings: "off"
 *   is done without a message, "silent" sends with `disable_notification`.
 * - Threads: fills, protection, exits and cancels reply to the message that announced the trade's
 *   entry; an entry replies to its decision's message when that is known.
 * - Paces: at most one message per chat per `perChatIntervalMs` (about 1/s; slower for groups)
 *   and `globalPerSecond` in all. Rows that arrive for a chat while it waits are coalesced: fills
 *   of one order become one block with a line per execution, and everything due for one reply
 *   target goes out together, split at 4096 characters. Nothing is dropped.
 * - Outbox semantics: each `send` resolves when the message holding that row was sent (with its
 *   Telegram message id) or failed (retryable or not), so the caller marks each row exactly when
 *   its own message went out.
 * - A group upgraded to a supergroup: Telegram refuses the group's old id with 400 and
 *   `migrate_to_chat_id`. The message goes to the supergroup instead, so does everything after it
 *   for the old id, and each result names the new id (`movedToChatId`) for the caller to store. Rows handed over together (the notify job's concurrent `send`
 *   calls, or `sendMany`) coalesce; a caller that awaited each row before handing the next would
 *   get one message per second.
 */
import { type Api, GrammyError, HttpError } from "grammy";
import type { Logger } from "pino";
import type { NotificationSettings } from "../../db/schema";
import { deliveryOfNotice, type Notice, type OrderFilledNotice } from "../../domain/notifications";
import type { NoticeMessage, NoticeSender, NoticeSendResult } from "../../jobs/notify";
import { fillHeader, noticeOfRow, renderFills, renderNotice } from "../views/notices";
import { splitMessage, TELEGRAM_MESSAGE_LIMIT } from "../views/split";

/**
 * The notify job's port (jobs/notify.ts), with what a process that owns the sender needs. Each
 * row's result is the id of the message that holds it (null when the reader switched the
 * category off and nothing needed sending), or a failure, retryable or not.
 */
export interface TelegramNoticeSender extends NoticeSender {
  /** Hands several rows at once (they coalesce); results in the same order. */
  sendMany(messages: readonly NoticeMessage[]): Promise<NoticeSendResult[]>;
  /** Resolves when nothing is waiting or being sent. */
  idle(): Promise<void>;
  /** Stops: rows still waiting fail as retryable (the outbox sends them later). */
  close(): Promise<void>;
}

/** What identifies the trade a notice is about, for threading. */
export interface NoticeThreadKey {
  readonly clientOrderId?: string | null;
  readonly tradeId?: number | null;
}

export interface TelegramNoticeSenderDeps {
  readonly api: Api;
  readonly logger: Logger;
  /** The reader's notification settings (the chat id of a private chat is the user's id). */
  settingsOf(chatId: number): Promise<NotificationSettings>;
  /** The message that announced this trade's entry in this chat (db/noticeThreads.ts). */
  entryMessageOf(chatId: number, key: NoticeThreadKey): Promise<number | null>;
  /** The message a decision was planned or approved in, when the bot keeps it. */
  decisionMessageOf?(chatId: number, decisionId: number): Promise<number | null>;
  /** Gap between two messages to one private chat (default 1000 ms). */
  readonly perChatIntervalMs?: number;
  /** Gap between two messages to one group (default 3000 ms: Telegram allows 20 a minute). */
  readonly perGroupIntervalMs?: number;
  /** Messages per second in all (default 25, under Telegram's 30). */
  readonly globalPerSecond?: number;
  /** How long an idle chat waits for more rows before its first message (default 100 ms). */
  readonly gatherMs?: number;
}

interface Pending {
  readonly message: NoticeMessage;
  readonly notice: Notice;
  readonly resolve: (result: NoticeSendResult) => void;
}

interface ChatQueue {
  pending: Pending[];
  timer: NodeJS.Timeout | undefined;
  draining: boolean;
  /** Earliest time (performance.now) of the chat's next message. */
  nextAt: number;
}

/** A piece of a message: a block of fills of one order, or one other notice. */
type Block =
  | { readonly kind: "fills"; readonly fills: OrderFilledNotice[]; readonly rows: Pending[] }
  | { readonly kind: "notice"; readonly html: string; readonly rows: Pending[] };

interface Part {
  readonly html: string;
  /** Rows whose last piece is in this part: done when it is sent. */
  readonly completes: readonly Pending[];
  /** Rows that have a piece in this part. */
  readonly holds: readonly Pending[];
}

const BLOCK_SEPARATOR = "\n\n";
/** Room for a fill block's head growing when recomputed for the fills of one part. */
const HEADER_SLACK = 16;
const REMEMBERED_ANCHORS = 5_000;

class RetryableBatchFailure extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super(message);
  }
}

type Failure = { retryable: boolean; error: string; retryAfterMs?: number };

/** The supergroup a refused send names (400 with migrate_to_chat_id), or null. */
function supergroupOf(error: unknown): number | null {
  if (!(error instanceof GrammyError) || error.error_code !== 400) return null;
  const movedTo = error.parameters.migrate_to_chat_id;
  return typeof movedTo === "number" ? movedTo : null;
}

/** Builds the sender. */
export function createTelegramNoticeSender(deps: TelegramNoticeSenderDeps): TelegramNoticeSender {
  const perChatMs = deps.perChatIntervalMs ?? 1_000;
  const perGroupMs = deps.perGroupIntervalMs ?? 3_000;
  const globalPerSecond = deps.globalPerSecond ?? 25;
  const gatherMs = deps.gatherMs ?? 100;
  const chats = new Map<number, ChatQueue>();
  const recentSends: number[] = [];
  /** Entry messages sent by this process, by `chat:c:<client order id>` and `chat:t:<trade id>`. */
  const anchors = new Map<string, number>();
  const idleWaiters: (() => void)[] = [];
  /** Groups Telegram upgraded to supergroups, old chat id to new. */
  const movedChats = new Map<number, number>();
  let closed = false;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

  const remember = (key: string, messageId: number) => {
    anchors.delete(key);
    anchors.set(key, messageId);
    if (anchors.size > REMEMBERED_ANCHORS) {
      const oldest = anchors.keys().next();
      if (oldest.done !== true) anchors.delete(oldest.value);
    }
  };

  const isIdle = () =>
    [...chats.values()].every((queue) => queue.pending.length === 0 && !queue.draining);
  const notifyIdle = () => {
    if (!isIdle()) return;
    for (const waiter of idleWaiters.splice(0)) waiter();
  };

  /** Waits for the global rate: at most `globalPerSecond` sends in any second. */
  const takeGlobalSlot = async () => {
    for (;;) {
      const now = performance.now();
      while (recentSends.length > 0 && (recentSends[0] ?? 0) <= now - 1_000) recentSends.shift();
      if (recentSends.length < globalPerSecond) {
        recentSends.push(now);
        return;
      }
      await sleep((recentSends[0] ?? now) + 1_000 - now);
    }
  };

  const post = async (
    chatId: number,
    html: string,
    options: { readonly silent: boolean; readonly replyTo: number | null },
  ): Promise<number> => {
    await takeGlobalSlot();
    const sent = await deps.api.sendMessage(chatId, html, {
      parse_mode: "HTML",
      ...(options.silent ? { disable_notification: true } : {}),
      ...(options.replyTo === null
        ? {}
        : {
            reply_parameters: {
              message_id: options.replyTo,
              allow_sending_without_reply: true,
            },
          }),
    });
    return sent.message_id;
  };

  const sendPart = async (
    chatId: number,
    queue: ChatQueue,
    html: string,
    options: { readonly silent: boolean; readonly replyTo: number | null },
  ): Promise<number> => {
    await sleep(queue.nextAt - performance.now());
    try {
      if (!movedChats.has(chatId)) {
        try {
          return await post(chatId, html, options);
        } catch (error) {
          const supergroup = supergroupOf(error);
          if (supergroup === null) throw error;
          movedChats.set(chatId, supergroup);
          deps.logger.warn(
            { chatId, movedToChatId: supergroup },
            "group upgraded to a supergroup: its notices go there",
          );
        }
      }
      // The reply target is a message of the old group, not one of the supergroup's.
      return await post(movedChats.get(chatId) ?? chatId, html, { ...options, replyTo: null });
    } finally {
      queue.nextAt = performance.now() + (chatId < 0 ? perGroupMs : perChatMs);
    }
  };

  /** A result, naming the supergroup when the chat's messages now go there. */
  const resultIn = (chatId: number, result: NoticeSendResult): NoticeSendResult => {
    const movedTo = movedChats.get(chatId);
    return movedTo === undefined ? result : { ...result, movedToChatId: movedTo };
  };

  const threadKeyOf = (notice: Notice): NoticeThreadKey | null => {
    switch (notice.kind) {
      case "ORDER_FILLED":
      case "ORDER_CANCELED":
        return { clientOrderId: notice.clientOrderId, tradeId: notice.tradeId };
      case "PROTECTION_PLACED":
      case "TRADE_CLOSED":
      case "ORDER_REJECTED":
        return notice.tradeId === null ? null : { tradeId: notice.tradeId };
      default:
        return null;
    }
  };

  const replyTargetOf = async (
    chatId: number,
    notice: Notice,
    cache: Map<string, Promise<number | null>>,
  ): Promise<number | null> => {
    if (notice.kind === "ENTRY_SUBMITTED" || notice.kind === "ORDER_REJECTED") {
      const decisionId = notice.decisionId;
      if (decisionId !== null && deps.decisionMessageOf !== undefined) {
        const decisionMessage = await deps.decisionMessageOf(chatId, decisionId);
        if (decisionMessage !== null) return decisionMessage;
      }
      if (notice.kind === "ENTRY_SUBMITTED") return null;
    }
    const key = threadKeyOf(notice);
    if (key === null) return null;
    const byOrder =
      key.clientOrderId == null ? undefined : anchors.get(`${chatId}:c:${key.clientOrderId}`);
    if (byOrder !== undefined) return byOrder;
    const byTrade = key.tradeId == null ? undefined : anchors.get(`${chatId}:t:${key.tradeId}`);
    if (byTrade !== undefined) return byTrade;
    const cacheKey = `${key.clientOrderId ?? ""}|${key.tradeId ?? ""}`;
    let found = cache.get(cacheKey);
    if (found === undefined) {
      found = deps.entryMessageOf(chatId, key);
      cache.set(cacheKey, found);
    }
    return found;
  };

  /** Blocks of one message group: fills merged per order, in order of first appearance. */
  const blocksOf = (rows: readonly Pending[]): Block[] => {
    const blocks: Block[] = [];
    const fillBlocks = new Map<string, Extract<Block, { kind: "fills" }>>();
    for (const row of rows) {
      if (row.notice.kind === "ORDER_FILLED") {
        const existing = fillBlocks.get(row.notice.clientOrderId);
        if (existing !== undefined) {
          existing.fills.push(row.notice);
          existing.rows.push(row);
          continue;
        }
        const block: Extract<Block, { kind: "fills" }> = {
          kind: "fills",
          fills: [row.notice],
          rows: [row],
        };
        fillBlocks.set(row.notice.clientOrderId, block);
        blocks.push(block);
      } else {
        blocks.push({ kind: "notice", html: renderNotice(row.notice), rows: [row] });
      }
    }
    return blocks;
  };

  /** Packs blocks into messages of at most 4096 characters; a fill block splits between lines. */
  const partsOf = (blocks: readonly Block[]): Part[] => {
    const parts: Part[] = [];
    let current: { pieces: Block[]; length: number } = { pieces: [], length: 0 };
    const flush = () => {
      if (current.pieces.length === 0) return;
      const rows = current.pieces.flatMap((piece) => piece.rows);
      parts.push({
        html: current.pieces
          .map((piece) => (piece.kind === "fills" ? renderFills(piece.fills) : piece.html))
          .join(BLOCK_SEPARATOR),
        completes: rows,
        holds: rows,
      });
      current = { pieces: [], length: 0 };
    };
    const room = (extra: number) =>
      current.length + (current.pieces.length > 0 ? BLOCK_SEPARATOR.length : 0) + extra <=
      TELEGRAM_MESSAGE_LIMIT;
    for (const block of blocks) {
      if (block.kind === "notice") {
        if (!room(block.html.length)) flush();
        if (block.html.length <= TELEGRAM_MESSAGE_LIMIT) {
          current.length +=
            (current.pieces.length > 0 ? BLOCK_SEPARATOR.length : 0) + block.html.length;
          current.pieces.push(block);
          continue;
        }
        // One notice longer than a message (a long reconciliation detail): its own parts.
        const pieces = splitMessage(block.html);
        pieces.forEach((html, index) => {
          const last = index === pieces.length - 1;
          parts.push({ html, completes: last ? block.rows : [], holds: block.rows });
        });
        continue;
      }
      const headerLength = fillHeader(block.fills).length + HEADER_SLACK;
      let piece: Extract<Block, { kind: "fills" }> | null = null;
      block.fills.forEach((fill, index) => {
        const row = block.rows[index];
        if (row === undefined) return;
        const lineLength = renderFills([fill]).length - fillHeader([fill]).length;
        if (piece === null) {
          if (!room(headerLength + lineLength)) flush();
          piece = { kind: "fills", fills: [], rows: [] };
          current.length += (current.pieces.length > 0 ? BLOCK_SEPARATOR.length : 0) + headerLength;
          current.pieces.push(piece);
        } else if (current.length + lineLength > TELEGRAM_MESSAGE_LIMIT) {
          flush();
          piece = { kind: "fills", fills: [], rows: [] };
          current.length = headerLength;
          current.pieces.push(piece);
        }
        piece.fills.push(fill);
        piece.rows.push(row);
        current.length += lineLength;
      });
    }
    flush();
    return parts;
  };

  const failureOf = (error: unknown): Failure => {
    if (error instanceof GrammyError) {
      // Only 400 and 403 refuse this message or chat (blocked, chat not found): any other
      // answer (401 revoked token, 404, 429, 5xx) is about the bot or Telegram, not the notice.
      const retryable = error.error_code !== 400 && error.error_code !== 403;
      const failure = { retryable, error: `Telegram ${error.error_code}: ${error.description}` };
      // A flood wait longer than the client waits itself: the outbox tries again after it.
      const retryAfter = error.parameters.retry_after;
      return error.error_code === 429 && typeof retryAfter === "number"
        ? { ...failure, retryAfterMs: retryAfter * 1_000 }
        : failure;
    }
    if (error instanceof HttpError) return { retryable: true, error: error.message };
    return { retryable: false, error: error instanceof Error ? error.message : String(error) };
  };

  /** Sends one group's parts; resolves each row when its last part went out. */
  const sendGroup = async (
    chatId: number,
    queue: ChatQueue,
    rows: readonly Pending[],
    options: { readonly silent: boolean; readonly replyTo: number | null },
  ): Promise<number[]> => {
    const parts = partsOf(blocksOf(rows));
    const sentIds: number[] = [];
    for (const [index, part] of parts.entries()) {
      let messageId: number;
      try {
        messageId = await sendPart(chatId, queue, part.html, options);
      } catch (error) {
        const failure = failureOf(error);
        const unsent = new Set(parts.slice(index).flatMap((later) => later.holds));
        for (const row of unsent) row.resolve(resultIn(chatId, { ok: false, ...failure }));
        deps.logger.warn(
          { chatId, rows: unsent.size, retryable: failure.retryable, error: failure.error },
          "notice delivery failed",
        );
        if (failure.retryable) throw new RetryableBatchFailure(failure.error, failure.retryAfterMs);
        return sentIds;
      }
      sentIds.push(messageId);
      for (const row of part.completes) {
        row.resolve(resultIn(chatId, { ok: true, telegramMessageId: messageId }));
      }
    }
    return sentIds;
  };

  const deliver = async (chatId: number, queue: ChatQueue, batch: Pending[]) => {
    const settings = await deps.settingsOf(chatId);
    const wanted: { row: Pending; silent: boolean }[] = [];
    for (const row of batch) {
      const delivery = deliveryOfNotice(row.notice.kind, settings);
      if (delivery === "off") row.resolve({ ok: true, telegramMessageId: null });
      else wanted.push({ row, silent: delivery === "silent" });
    }
    const lookups = new Map<string, Promise<number | null>>();
    // Entries first, one message each: the fills and exits of the same batch reply to them.
    for (const { row, silent } of wanted) {
      if (row.notice.kind !== "ENTRY_SUBMITTED") continue;
      const replyTo = await replyTargetOf(chatId, row.notice, lookups);
      const [messageId] = await sendGroup(chatId, queue, [row], { silent, replyTo });
      if (messageId !== undefined) {
        remember(`${chatId}:c:${row.notice.clientOrderId}`, messageId);
        if (row.notice.tradeId !== null) remember(`${chatId}:t:${row.notice.tradeId}`, messageId);
      }
    }
    const groups = new Map<string, { silent: boolean; replyTo: number | null; rows: Pending[] }>();
    for (const { row, silent } of wanted) {
      if (row.notice.kind === "ENTRY_SUBMITTED") continue;
      const replyTo = await replyTargetOf(chatId, row.notice, lookups);
      const key = `${silent}|${replyTo ?? ""}`;
      const group = groups.get(key);
      if (group === undefined) groups.set(key, { silent, replyTo, rows: [row] });
      else group.rows.push(row);
    }
    for (const group of groups.values()) await sendGroup(chatId, queue, group.rows, group);
  };

  const drain = async (chatId: number, queue: ChatQueue) => {
    queue.timer = undefined;
    queue.draining = true;
    try {
      while (queue.pending.length > 0 && !closed) {
        const batch = queue.pending.splice(0);
        try {
          await deliver(chatId, queue, batch);
        } catch (error) {
          const failure: Failure =
            error instanceof RetryableBatchFailure
              ? {
                  retryable: true,
                  error: error.message,
                  ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
                }
              : failureOf(error);
          if (!(error instanceof RetryableBatchFailure)) {
            deps.logger.error({ chatId, err: error }, "notice delivery failed");
          }
          // Rows not settled yet (a failed lookup, a retryable failure midway) are retried later.
          for (const row of batch) row.resolve({ ...failure, ok: false, retryable: true });
        }
      }
    } finally {
      // The queue stays (it is small): it remembers when the chat may have its next message.
      queue.draining = false;
      notifyIdle();
    }
  };

  const queueOf = (chatId: number) => {
    let queue = chats.get(chatId);
    if (queue === undefined) {
      queue = { pending: [], timer: undefined, draining: false, nextAt: 0 };
      chats.set(chatId, queue);
    }
    return queue;
  };

  const send = (message: NoticeMessage): Promise<NoticeSendResult> => {
    const notice = noticeOfRow(message.kind, message.payload);
    if (notice === null) {
      return Promise.resolve({
        ok: false,
        retryable: false,
        error: `not a notice this desk knows: ${message.kind}`,
      });
    }
    // A row that cannot be rendered (a payload this version misreads) is given up alone: merged
    // with its chat's other rows it would fail them all, on every retry, until all were given up.
    try {
      renderNotice(notice);
    } catch (error) {
      return Promise.resolve({
        ok: false,
        retryable: false,
        error: `cannot render ${message.kind}: ${error instanceof Error ? error.message : String(error)}`,
      });
    }
    if (closed) return Promise.resolve({ ok: false, retryable: true, error: "sender closed" });
    return new Promise<NoticeSendResult>((resolve) => {
      const queue = queueOf(message.chatId);
      let settled = false;
      // A row resolves once: the first outcome stands (a later blanket failure does not undo it).
      queue.pending.push({
        message,
        notice,
        resolve: (result) => {
          if (settled) return;
          settled = true;
          resolve(result);
        },
      });
      if (queue.draining || queue.timer !== undefined) return;
      const wait = Math.max(gatherMs, queue.nextAt - performance.now());
      const chatQueue = queue;
      queue.timer = setTimeout(() => {
        void drain(message.chatId, chatQueue);
      }, wait);
    });
  };

  return {
    send,
    sendMany: (messages) => Promise.all(messages.map(send)),
    idle: () =>
      isIdle()
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            idleWaiters.push(resolve);
          }),
    async close() {
      closed = true;
      for (const queue of chats.values()) {
        if (queue.timer !== undefined) clearTimeout(queue.timer);
        queue.timer = undefined;
        for (const row of queue.pending.splice(0)) {
          row.resolve({ ok: false, retryable: true, error: "sender closed" });
        }
      }
      notifyIdle();
    },
  };
}
