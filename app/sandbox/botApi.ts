/**
 * A local Bot API server for the sandbox: the bot talks to it exactly as to Telegram (same
 * methods, same JSON), and one local user (the terminal) writes messages and presses buttons.
 * It keeps everything in memory and serves the methods the desk uses; any other method answers
 * 404 as Telegram does for an unknown method.
 */
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface InlineButton {
  readonly text: string;
  readonly callback_data?: string;
  readonly url?: string;
}

/** A message the bot sent, as it stands now (edits applied). */
export interface SandboxMessage {
  readonly messageId: number;
  readonly chatId: number;
  readonly text: string;
  readonly parseMode: string | undefined;
  readonly buttons: readonly (readonly InlineButton[])[];
}

export interface SandboxUser {
  readonly id: number;
  readonly firstName: string;
  readonly username: string;
}

export interface BotApiEvents {
  /** A new bot message, or an edit of one. */
  message: [message: SandboxMessage, edited: boolean];
  /** The bot answered a button press (a toast or an alert). */
  callbackAnswer: [text: string | undefined, showAlert: boolean];
  deleted: [messageId: number];
}

export interface LocalBotApi {
  /** Bot API root for the bot (`client.apiRoot`). */
  readonly apiRoot: string;
  /** The bot token this server accepts. */
  readonly token: string;
  readonly events: EventEmitter<BotApiEvents>;
  /** The user writes a message (a command when it starts with "/"). */
  sendText(user: SandboxUser, text: string): void;
  /** The user presses a button of a bot message. */
  press(user: SandboxUser, message: SandboxMessage, button: InlineButton): void;
  close(): Promise<void>;
}

type Payload = Record<string, unknown>;

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly description: string,
  ) {
    super(description);
  }
}

const BOT_ID = 700_000_001;
const MAX_TEXT = 4096;

/** Starts the server on a free port on 127.0.0.1. */
export async function startLocalBotApi(): Promise<LocalBotApi> {
  const token = `${BOT_ID}:${randomBytes(24).toString("base64url")}`;
  const events = new EventEmitter<BotApiEvents>();
  const updates: Payload[] = [];
  const waiters = new Set<() => void>();
  const messages = new Map<string, SandboxMessage>();
  let nextUpdateId = 1;
  let nextMessageId = 1;
  let commands: unknown[] = [];
  const nowSeconds = () => Math.floor(Date.now() / 1000);

  const pushUpdate = (update: Payload) => {
    updates.push({ update_id: nextUpdateId++, ...update });
    for (const wake of waiters) wake();
  };
  const key = (chatId: unknown, messageId: unknown) => `${String(chatId)}:${String(messageId)}`;
  const userJson = (user: SandboxUser) => ({
    id: user.id,
    is_bot: false,
    first_name: user.firstName,
    username: user.username,
  });
  const chatJson = (user: SandboxUser) => ({
    id: user.id,
    type: "private",
    first_name: user.firstName,
    username: user.username,
  });
  const messageJson = (message: SandboxMessage) => ({
    message_id: message.messageId,
    date: nowSeconds(),
    chat: { id: message.chatId, type: "private" },
    from: { id: BOT_ID, is_bot: true, first_name: "Desk", username: "desk_sandbox_bot" },
    text: message.text,
    ...(message.buttons.length > 0 ? { reply_markup: { inline_keyboard: message.buttons } } : {}),
  });

  const parseButtons = (markup: unknown): InlineButton[][] => {
    const parsed = typeof markup === "string" ? (JSON.parse(markup) as unknown) : markup;
    if (parsed === null || typeof parsed !== "object" || !("inline_keyboard" in parsed)) return [];
    const rows = (parsed as { inline_keyboard: unknown }).inline_keyboard;
    if (!Array.isArray(rows)) return [];
    return rows.map((row) => {
      if (!Array.isArray(row)) return [];
      return row.map((button) => {
        const b = button as InlineButton;
        if (b.callback_data !== undefined && Buffer.byteLength(b.callback_data) > 64) {
          throw new ApiError(400, "Bad Request: BUTTON_DATA_INVALID");
        }
        return b;
      });
    });
  };
  const checkText = (text: unknown): string => {
    if (typeof text !== "string" || text.length === 0) {
      throw new ApiError(400, "Bad Request: message text is empty");
    }
    if (text.length > MAX_TEXT) throw new ApiError(400, "Bad Request: message is too long");
    return text;
  };

  const methods: Record<string, (payload: Payload) => unknown | Promise<unknown>> = {
    getMe: () => ({
      id: BOT_ID,
      is_bot: true,
      first_name: "Desk",
      username: "desk_sandbox_bot",
      can_join_groups: false,
      can_read_all_group_messages: false,
      supports_inline_queries: false,
    }),
    async getUpdates(payload) {
      const offset = Number(payload.offset ?? 0);
      const timeoutSeconds = Math.min(Number(payload.timeout ?? 0), 50);
      while (updates.length > 0 && Number(updates[0]?.update_id) < offset) updates.shift();
      if (updates.length === 0 && timeoutSeconds > 0) {
        await new Promise<void>((resolve) => {
          const wake = () => {
            clearTimeout(timer);
            waiters.delete(wake);
            resolve();
          };
          const timer = setTimeout(wake, timeoutSeconds * 1000);
          waiters.add(wake);
        });
      }
      return updates.slice(0, Number(payload.limit ?? 100));
    },
    sendMessage(payload) {
      const message: SandboxMessage = {
        messageId: nextMessageId++,
        chatId: Number(payload.chat_id),
        text: checkText(payload.text),
        parseMode: typeof payload.parse_mode === "string" ? payload.parse_mode : undefined,
        buttons: parseButtons(payload.reply_markup),
      };
      messages.set(key(message.chatId, message.messageId), message);
      events.emit("message", message, false);
      return messageJson(message);
    },
    editMessageText(payload) {
      const before = messages.get(key(payload.chat_id, payload.message_id));
      if (before === undefined) throw new ApiError(400, "Bad Request: message to edit not found");
      const after: SandboxMessage = {
        ...before,
        text: checkText(payload.text),
        parseMode: typeof payload.parse_mode === "string" ? payload.parse_mode : undefined,
        // Like Telegram: an edit without a keyboard removes it.
        buttons: parseButtons(payload.reply_markup),
      };
      messages.set(key(after.chatId, after.messageId), after);
      events.emit("message", after, true);
      return messageJson(after);
    },
    editMessageReplyMarkup(payload) {
      const before = messages.get(key(payload.chat_id, payload.message_id));
      if (before === undefined) throw new ApiError(400, "Bad Request: message to edit not found");
      const after: SandboxMessage = { ...before, buttons: parseButtons(payload.reply_markup) };
      messages.set(key(after.chatId, after.messageId), after);
      events.emit("message", after, true);
      return messageJson(after);
    },
    deleteMessage(payload) {
      const k = key(payload.chat_id, payload.message_id);
      if (!messages.delete(k)) throw new ApiError(400, "Bad Request: message to delete not found");
      events.emit("deleted", Number(payload.message_id));
      return true;
    },
    answerCallbackQuery(payload) {
      const text = typeof payload.text === "string" ? payload.text : undefined;
      events.emit("callbackAnswer", text, payload.show_alert === true);
      return true;
    },
    setMyCommands(payload) {
      commands = Array.isArray(payload.commands) ? payload.commands : [];
      return true;
    },
    getMyCommands: () => commands,
    deleteMyCommands() {
      commands = [];
      return true;
    },
    sendChatAction: () => true,
    deleteWebhook: () => true,
    setWebhook: () => true,
    close: () => true,
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? "/", "http://local");
    const match = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(url.pathname);
    const send = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      response.writeHead(status, { "content-type": "application/json" });
      response.end(text);
    };
    if (match === null) return send(404, { ok: false, error_code: 404, description: "Not Found" });
    if (match[1] !== token) {
      return send(401, { ok: false, error_code: 401, description: "Unauthorized" });
    }
    const method = methods[match[2] ?? ""];
    if (method === undefined) {
      return send(404, { ok: false, error_code: 404, description: "Not Found: method not found" });
    }
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    const payload: Payload = Object.fromEntries(url.searchParams);
    if (raw.trim() !== "") {
      const type = request.headers["content-type"] ?? "";
      if (type.includes("json")) Object.assign(payload, JSON.parse(raw) as Payload);
      else Object.assign(payload, Object.fromEntries(new URLSearchParams(raw)));
    }
    try {
      send(200, { ok: true, result: await method(payload) });
    } catch (error) {
      if (error instanceof ApiError) {
        send(error.status, { ok: false, error_code: error.status, description: error.description });
      } else {
        send(500, { ok: false, error_code: 500, description: "Internal Server Error" });
      }
    }
  };

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  let callbackCounter = 1;
  return {
    apiRoot: `http://127.0.0.1:${port}`,
    token,
    events,
    sendText(user, text) {
      const isCommand = text.startsWith("/");
      const commandLength = isCommand ? (text.split(/\s/)[0]?.length ?? 0) : 0;
      pushUpdate({
        message: {
          message_id: nextMessageId++,
          date: nowSeconds(),
          from: userJson(user),
          chat: chatJson(user),
          text,
          ...(isCommand
            ? { entities: [{ type: "bot_command", offset: 0, length: commandLength }] }
            : {}),
        },
      });
    },
    press(user, message, button) {
      pushUpdate({
        callback_query: {
          id: String(callbackCounter++),
          from: userJson(user),
          chat_instance: String(user.id),
          data: button.callback_data,
          message: { ...messageJson(message), chat: chatJson(user) },
        },
      });
    },
    async close() {
      for (const wake of waiters) wake();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
