/**
 * End-to-end harness for the bot: telegram-test-api as the Bot API, extended where it falls short
 * of real Telegram, plus test users who send messages, press buttons and wait for replies.
 *
 * Extensions over the emulator (answered in front of its express app, everything else passes
 * through to it):
 * - getUpdates long-polls (the emulator answers at once, a busy loop for a polling bot);
 * - sendMessage and editMessageText are checked like Telegram does: text 1..4096 characters after
 *   entity parsing, HTML that Telegram would parse, callback data 1..64 bytes; edits without a
 *   keyboard remove it and an edit that changes nothing is refused ("message is not modified");
 * - answerCallbackQuery is recorded, so tests can read the toast or alert a press produced, and
 *   a second answer to the same press is refused;
 * - a pressed button's callback query carries its message's shown text, as Telegram sends it;
 * - setMyCommands, getMyCommands, deleteMyCommands, sendChatAction exist;
 * - a method neither emulated nor extended answers 404 like Telegram does for unknown methods,
 *   instead of the emulator's 500 that bots retry; a wrong token answers 401;
 * - failNext makes calls fail with flood control (429 retry_after), a server error, or the
 *   conflict Telegram reports when two processes poll with one token;
 * - migrateChat upgrades a group to a supergroup: calls naming the group's id are refused with
 *   400 and parameters.migrate_to_chat_id, as Telegram refuses them.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { BotCommand, BotCommandScope, InlineKeyboardButton } from "grammy/types";
import { TelegramServer } from "telegram-test-api/lib/telegramServer.js";
import { freePort } from "./freePort";

export const TEST_BOT_TOKEN = "123456789:TEST-token-for-the-bot-api-emulator";

/** A message the bot sent, as it stands now (edits applied). */
export interface BotMessage {
  readonly chatId: number;
  readonly messageId: number;
  readonly text: string;
  readonly parseMode: string | undefined;
  /** Inline keyboard rows, empty when the message has none. */
  readonly buttons: readonly (readonly InlineKeyboardButton[])[];
}

export interface CallbackAnswer {
  readonly callbackQueryId: string;
  readonly text: string | undefined;
  readonly showAlert: boolean;
}

export interface PublishedMenu {
  readonly scope: BotCommandScope;
  readonly languageCode: string;
  readonly commands: readonly BotCommand[];
}

export interface InjectedFailure {
  /** 409: another process polls with this token (getUpdates). */
  readonly status: 409 | 429 | 500 | 502;
  readonly times: number;
  /** Seconds, sent as parameters.retry_after with a 429. */
  readonly retryAfter?: number;
}

export interface TestChat {
  readonly id: number;
  readonly type: "private" | "group" | "supergroup";
  readonly title?: string;
}

export interface TestUserOptions {
  readonly userId: number;
  readonly firstName?: string;
  readonly username?: string;
  /** The chat the user writes in; their private chat with the bot when absent. */
  readonly chat?: TestChat;
}

export interface WaitOptions {
  /** Text the message must contain, or match. */
  readonly match?: string | RegExp;
  readonly timeoutMs?: number;
}

export interface TestUser {
  readonly userId: number;
  readonly chat: TestChat;
  /** Sends a text message; one starting with "/" is sent as a command. */
  send(text: string): Promise<void>;
  /**
   * Presses the button labelled `label` on a bot message and waits for the bot to answer the
   * callback query (every press must be answered).
   */
  press(
    message: BotMessage,
    label: string,
    options?: { timeoutMs?: number },
  ): Promise<CallbackAnswer>;
  /**
   * Waits for the next bot message in this user's chat after the ones already returned to this
   * handle (and those sent before it was created), optionally the next that matches. Polls; fails after the timeout with what did arrive.
   */
  waitForMessage(options?: WaitOptions): Promise<BotMessage>;
  /** Bot messages in this user's chat so far, oldest first. */
  messages(): BotMessage[];
}

export interface TelegramEmulator {
  /** Bot API root for the bot under test (`client.apiRoot`). */
  readonly apiRoot: string;
  readonly token: string;
  user(options: TestUserOptions): TestUser;
  /** Bot messages in a chat, oldest first. */
  messagesIn(chatId: number): BotMessage[];
  /** Every setMyCommands call, in order. */
  publishedMenus(): PublishedMenu[];
  /** Every answerCallbackQuery call, in order. */
  callbackAnswers(): CallbackAnswer[];
  /** Calls refused with a Telegram error (bad HTML, long text, bad button data...), in order. */
  refusedCalls(): { readonly method: string; readonly description: string }[];
  /** Ids of the updates users have sent the bot so far (delivered to it or not), oldest first. */
  userUpdateIds(): number[];
  /**
   * Makes the next `times` calls of `method` fail like Telegram does: 409 conflict, 429 with
   * retry_after (flood control) or a 5xx. Returns how many calls were failed so far.
   */
  failNext(method: string, failure: InjectedFailure): { readonly failed: () => number };
  /**
   * Upgrades the group `fromChatId` to the supergroup `toChatId`: from now on every call naming
   * the group's chat_id is refused with 400 "group chat was upgraded to a supergroup chat" and
   * parameters.migrate_to_chat_id, as Telegram does.
   */
  migrateChat(fromChatId: number, toChatId: number): void;
  stop(): Promise<void>;
}

const DEFAULT_WAIT_MS = 5_000;
const POLL_INTERVAL_MS = 15;
const MAX_MESSAGE_LENGTH = 4096;
const MAX_CALLBACK_DATA_BYTES = 64;
const EMULATED_METHODS = new Set(["getMe", "deleteMessage", "setWebhook", "deleteWebhook"]);
const USER_UPDATE_EVENTS = ["AddedUserMessage", "AddedUserCommand", "AddedUserCallbackQuery"];

type Payload = Record<string, unknown>;

interface StoredBotMessage {
  messageId: number;
  botToken: string;
  message: Payload;
}

/** The emulator's internals the harness needs; they are private in its typings. */
interface EmulatorInternals {
  webServer: RequestListener & { settings?: unknown };
  storage: { botMessages: StoredBotMessage[]; userMessages: unknown[] };
}

class TelegramError extends Error {
  constructor(
    readonly status: number,
    readonly description: string,
    /** The response's `parameters` (migrate_to_chat_id), when Telegram sends some. */
    readonly parameters?: Payload,
  ) {
    super(description);
  }
}

/** Starts the emulator with the harness extensions on a free local port. */
export async function startTelegramEmulator(
  token: string = TEST_BOT_TOKEN,
): Promise<TelegramEmulator> {
  const port = await freePort();
  const server = new TelegramServer({ port, host: "127.0.0.1", storeTimeout: 600 });
  const internals = server as unknown as EmulatorInternals;
  const menus: PublishedMenu[] = [];
  const answers: CallbackAnswer[] = [];
  const refused: { method: string; description: string }[] = [];
  const failures = new Map<string, { failure: InjectedFailure; left: number; failed: number }>();
  /** Groups upgraded to supergroups: the group's chat id to the supergroup's. */
  const migratedChats = new Map<string, number>();

  const storedMessages = (): StoredBotMessage[] =>
    internals.storage.botMessages.filter((stored) => stored.botToken === token);
  const findStored = (payload: Payload): StoredBotMessage => {
    const stored = storedMessages().find(
      (candidate) =>
        String(candidate.messageId) === String(payload.message_id) &&
        String(candidate.message.chat_id) === String(payload.chat_id),
    );
    if (stored === undefined)
      throw new TelegramError(400, "Bad Request: message to edit not found");
    return stored;
  };

  const extensions: Record<
    string,
    (payload: Payload, response: ServerResponse) => Promise<unknown>
  > = {
    getUpdates: (payload, response) => longPoll(server, token, payload, response),
    async sendMessage(payload) {
      checkMessage(payload);
      return server.addBotMessage(
        payload as unknown as Parameters<TelegramServer["addBotMessage"]>[0],
        token,
      );
    },
    async editMessageText(payload) {
      checkMessage(payload);
      const stored = findStored(payload);
      const markup = parseMarkup(payload.reply_markup);
      const before = stored.message;
      if (
        before.text === payload.text &&
        before.parse_mode === payload.parse_mode &&
        JSON.stringify(before.reply_markup ?? null) === JSON.stringify(markup ?? null)
      ) {
        throw new TelegramError(
          400,
          "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
        );
      }
      // Like Telegram: an edit without reply_markup removes the inline keyboard.
      const { reply_markup: _dropped, ...rest } = before;
      stored.message = {
        ...rest,
        text: payload.text,
        parse_mode: payload.parse_mode,
        ...(markup === undefined ? {} : { reply_markup: markup }),
      };
      return {
        ...stored.message,
        message_id: stored.messageId,
        chat: { id: Number(payload.chat_id), type: "private" },
      };
    },
    async editMessageReplyMarkup(payload) {
      const markup = parseMarkup(payload.reply_markup);
      checkKeyboard(markup);
      const stored = findStored(payload);
      const { reply_markup: _dropped, ...rest } = stored.message;
      stored.message = markup === undefined ? rest : { ...rest, reply_markup: markup };
      return true;
    },
    async answerCallbackQuery(payload) {
      const callbackQueryId = String(payload.callback_query_id);
      if (answers.some((answer) => answer.callbackQueryId === callbackQueryId)) {
        throw new TelegramError(
          400,
          "Bad Request: query is too old and response timeout expired or query ID is invalid",
        );
      }
      const text = typeof payload.text === "string" ? payload.text : undefined;
      if (text !== undefined && text.length > 200) {
        throw new TelegramError(400, "Bad Request: MESSAGE_TOO_LONG");
      }
      answers.push({
        callbackQueryId,
        text,
        showAlert: payload.show_alert === true,
      });
      return true;
    },
    async setMyCommands(payload) {
      const commands = parseJsonField(payload.commands) as BotCommand[];
      if (!Array.isArray(commands) || commands.length > 100) {
        throw new TelegramError(400, "Bad Request: commands must be a list of at most 100");
      }
      for (const command of commands) {
        if (!/^[a-z0-9_]{1,32}$/.test(command.command)) {
          throw new TelegramError(400, "Bad Request: BOT_COMMAND_INVALID");
        }
        if (command.description.length < 1 || command.description.length > 256) {
          throw new TelegramError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID");
        }
      }
      const scope = (parseJsonField(payload.scope) ?? { type: "default" }) as BotCommandScope;
      const languageCode = typeof payload.language_code === "string" ? payload.language_code : "";
      menus.push({ scope, languageCode, commands });
      return true;
    },
    async getMyCommands(payload) {
      const scope = JSON.stringify(parseJsonField(payload.scope) ?? { type: "default" });
      const latest = menus.filter((menu) => JSON.stringify(menu.scope) === scope).at(-1);
      return latest?.commands ?? [];
    },
    async deleteMyCommands(payload) {
      const scope = (parseJsonField(payload.scope) ?? { type: "default" }) as BotCommandScope;
      menus.push({ scope, languageCode: "", commands: [] });
      return true;
    },
    async sendChatAction() {
      return true;
    },
  };

  const emulatorApp = internals.webServer;
  const handler: RequestListener & { settings?: unknown } = (request, response) => {
    const path = new URL(request.url ?? "/", "http://localhost").pathname;
    const call = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(path);
    const method = call?.[2];
    if (call === null || method === undefined) {
      emulatorApp(request, response);
      return;
    }
    if (call[1] !== token) {
      // The emulator would answer any token; Telegram answers 401.
      sendJson(response, 401, { ok: false, error_code: 401, description: "Unauthorized" });
      return;
    }
    const injected = failures.get(method);
    if (injected !== undefined && injected.left > 0) {
      injected.left -= 1;
      injected.failed += 1;
      const { status, retryAfter } = injected.failure;
      sendJson(response, status, {
        ok: false,
        error_code: status,
        description: {
          409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
          429: `Too Many Requests: retry after ${retryAfter ?? 1}`,
          500: "Internal Server Error",
          502: "Bad Gateway",
        }[status],
        ...(status === 429 ? { parameters: { retry_after: retryAfter ?? 1 } } : {}),
      });
      return;
    }
    if (EMULATED_METHODS.has(method)) {
      emulatorApp(request, response);
      return;
    }
    const extension = extensions[method];
    const answer = async (): Promise<unknown> => {
      if (extension === undefined) throw new TelegramError(404, "Not Found");
      const payload = await readPayload(request);
      const migrateTo =
        payload.chat_id === undefined ? undefined : migratedChats.get(String(payload.chat_id));
      if (migrateTo !== undefined) {
        throw new TelegramError(400, "Bad Request: group chat was upgraded to a supergroup chat", {
          migrate_to_chat_id: migrateTo,
        });
      }
      return extension(payload, response);
    };
    answer().then(
      (result) => {
        if (result !== NO_ANSWER) sendJson(response, 200, { ok: true, result });
      },
      (error: unknown) => {
        const failure =
          error instanceof TelegramError ? error : new TelegramError(500, String(error));
        refused.push({ method, description: failure.description });
        sendJson(response, failure.status, {
          ok: false,
          error_code: failure.status,
          description: failure.description,
          ...(failure.parameters === undefined ? {} : { parameters: failure.parameters }),
        });
      },
    );
  };
  handler.settings = emulatorApp.settings;
  internals.webServer = handler;
  await server.start();

  // The emulator numbers an update after an await, so two at once would share an update id and
  // a callback query id: users' updates go in one at a time.
  let lastUserUpdate: Promise<unknown> = Promise.resolve();
  const serialize = <T>(add: () => Promise<T>): Promise<T> => {
    const added = lastUserUpdate.then(add);
    lastUserUpdate = added.catch(() => undefined);
    return added;
  };

  const toBotMessage = (stored: StoredBotMessage): BotMessage => {
    const markup = stored.message.reply_markup as
      | { inline_keyboard?: InlineKeyboardButton[][] }
      | undefined;
    return {
      chatId: Number(stored.message.chat_id),
      messageId: stored.messageId,
      text: String(stored.message.text ?? ""),
      parseMode:
        typeof stored.message.parse_mode === "string" ? stored.message.parse_mode : undefined,
      buttons: markup?.inline_keyboard ?? [],
    };
  };
  const messagesIn = (chatId: number): BotMessage[] =>
    storedMessages()
      .filter((stored) => Number(stored.message.chat_id) === chatId)
      .map(toBotMessage);

  return {
    apiRoot: `http://127.0.0.1:${port}`,
    token,
    messagesIn,
    publishedMenus: () => [...menus],
    callbackAnswers: () => [...answers],
    refusedCalls: () => [...refused],
    userUpdateIds: () =>
      (internals.storage.userMessages as { botToken: string; updateId: number }[])
        .filter((update) => update.botToken === token)
        .map((update) => update.updateId),
    failNext(method, failure) {
      const entry = { failure, left: failure.times, failed: 0 };
      failures.set(method, entry);
      return { failed: () => entry.failed };
    },
    migrateChat(fromChatId, toChatId) {
      migratedChats.set(String(fromChatId), toChatId);
    },
    user: (options) => createTestUser(server, token, options, messagesIn, () => answers, serialize),
    async stop() {
      await server.stop();
    },
  };
}

function createTestUser(
  server: TelegramServer,
  token: string,
  options: TestUserOptions,
  messagesIn: (chatId: number) => BotMessage[],
  answers: () => readonly CallbackAnswer[],
  serialize: <T>(add: () => Promise<T>) => Promise<T>,
): TestUser {
  const firstName = options.firstName ?? `User${options.userId}`;
  const from = {
    id: options.userId,
    is_bot: false,
    first_name: firstName,
    ...(options.username === undefined ? {} : { username: options.username }),
  };
  const chat: TestChat = options.chat ?? { id: options.userId, type: "private" };
  const chatObject =
    chat.type === "private"
      ? { id: chat.id, type: "private", first_name: firstName }
      : { id: chat.id, type: chat.type, title: chat.title ?? "Test group" };
  // A new handle waits for what comes after it was created, not for earlier replies in its chat.
  let lastSeenMessageId = Math.max(0, ...messagesIn(chat.id).map((message) => message.messageId));

  return {
    userId: options.userId,
    chat,
    async send(text) {
      const message = {
        botToken: token,
        date: Math.floor(Date.now() / 1000),
        from,
        chat: chatObject,
        text,
      };
      if (text.startsWith("/")) {
        const length = text.split(/\s/)[0]?.length ?? text.length;
        await serialize(() =>
          server.addUserCommand({
            ...message,
            entities: [{ type: "bot_command", offset: 0, length }],
          } as unknown as Parameters<TelegramServer["addUserCommand"]>[0]),
        );
      } else {
        await serialize(() =>
          server.addUserMessage(
            message as unknown as Parameters<TelegramServer["addUserMessage"]>[0],
          ),
        );
      }
    },
    async press(message, label, pressOptions) {
      const button = message.buttons.flat().find((candidate) => candidate.text === label);
      if (button === undefined || !("callback_data" in button)) {
        throw new Error(
          `no callback button '${label}' on message ${message.messageId}: ${JSON.stringify(message.buttons)}`,
        );
      }
      // Telegram sends the message the keyboard is on; edits need its message_id and chat.
      const callbackQuery = {
        botToken: token,
        date: Math.floor(Date.now() / 1000),
        from,
        data: button.callback_data,
        message: {
          message_id: message.messageId,
          date: Math.floor(Date.now() / 1000),
          chat: chatObjectFor(message.chatId, chat, chatObject),
          from: { id: 666, is_bot: true, first_name: "Bot" },
          // Telegram sends the text as shown, formatting moved to entities.
          text: message.parseMode === "HTML" ? parseTelegramHtml(message.text) : message.text,
        },
      };
      await serialize(() =>
        server.addUserCallback(
          callbackQuery as unknown as Parameters<TelegramServer["addUserCallback"]>[0],
        ),
      );
      const stored = (
        server as unknown as { storage: { userMessages: Payload[] } }
      ).storage.userMessages.find((update) => update.callbackQuery === callbackQuery);
      const callbackQueryId = String(stored?.callbackId);
      return waitFor(
        () => answers().find((answer) => answer.callbackQueryId === callbackQueryId),
        pressOptions?.timeoutMs ?? DEFAULT_WAIT_MS,
        () => `the bot did not answer the press of '${label}' (callback query ${callbackQueryId})`,
      );
    },
    async waitForMessage(waitOptions = {}) {
      const { match } = waitOptions;
      const matches = (message: BotMessage) =>
        match === undefined ||
        (typeof match === "string" ? message.text.includes(match) : match.test(message.text));
      const found = await waitFor(
        () =>
          messagesIn(chat.id).find(
            (message) => message.messageId > lastSeenMessageId && matches(message),
          ),
        waitOptions.timeoutMs ?? DEFAULT_WAIT_MS,
        () =>
          `no bot message${match === undefined ? "" : ` matching ${String(match)}`} in chat ${chat.id}; it has: ${JSON.stringify(
            messagesIn(chat.id).map((message) => message.text),
          )}`,
      );
      lastSeenMessageId = found.messageId;
      return found;
    },
    messages: () => messagesIn(chat.id),
  };
}

function chatObjectFor(chatId: number, chat: TestChat, chatObject: Payload): Payload {
  return chatId === chat.id ? chatObject : { id: chatId, type: chatId < 0 ? "group" : "private" };
}

/** Polls `probe` until it returns a value or the timeout passes. */
export async function waitFor<T>(
  probe: () => T | undefined,
  timeoutMs: number,
  describe: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}

const NO_ANSWER = Symbol("no answer: the client went away");

/** getUpdates that waits for updates up to the requested timeout, like Telegram's long polling. */
async function longPoll(
  server: TelegramServer,
  token: string,
  payload: Payload,
  response: ServerResponse,
): Promise<unknown> {
  const timeoutSeconds = Math.min(Number(payload.timeout ?? 0) || 0, 50);
  const deadline = Date.now() + timeoutSeconds * 1000;
  // Before we answer, "close" on the response means the poller hung up.
  let gone = false;
  const hangUp = () => {
    gone = true;
  };
  response.once("close", hangUp);
  const pending = () =>
    (
      server as unknown as { storage: { userMessages: { botToken: string; isRead: boolean }[] } }
    ).storage.userMessages.some((update) => update.botToken === token && !update.isRead);
  while (!pending() && !gone && Date.now() < deadline) {
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        for (const event of USER_UPDATE_EVENTS) server.off(event, done);
        response.off("close", done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
      for (const event of USER_UPDATE_EVENTS) server.once(event, done);
      response.once("close", done);
    });
  }
  // A poller that gave up (the bot is stopping) must not have updates marked as delivered.
  response.off("close", hangUp);
  if (gone || response.destroyed) return NO_ANSWER;
  return server.getUpdates(token);
}

async function readPayload(request: IncomingMessage): Promise<Payload> {
  const type = request.headers["content-type"] ?? "";
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks).toString("utf8");
  if (body === "") return {};
  if (type.includes("application/json")) return JSON.parse(body) as Payload;
  if (type.includes("application/x-www-form-urlencoded")) {
    return Object.fromEntries(new URLSearchParams(body));
  }
  throw new TelegramError(400, `Bad Request: the harness reads JSON bodies only, got ${type}`);
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  if (response.headersSent || response.destroyed) return;
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(body));
}

function parseJsonField(value: unknown): unknown {
  return typeof value === "string" ? JSON.parse(value) : value;
}

function parseMarkup(value: unknown): Payload | undefined {
  const markup = parseJsonField(value);
  return markup === undefined || markup === null ? undefined : (markup as Payload);
}

/** Telegram's checks on an outgoing text message. */
function checkMessage(payload: Payload): void {
  if (payload.chat_id === undefined) throw new TelegramError(400, "Bad Request: chat_id is empty");
  const text = typeof payload.text === "string" ? payload.text : "";
  const visible = payload.parse_mode === "HTML" ? parseTelegramHtml(text) : text;
  if (visible.trim() === "") throw new TelegramError(400, "Bad Request: message text is empty");
  if (visible.length > MAX_MESSAGE_LENGTH)
    throw new TelegramError(400, "Bad Request: message is too long");
  checkKeyboard(parseMarkup(payload.reply_markup));
}

function checkKeyboard(markup: Payload | undefined): void {
  const rows = markup?.inline_keyboard;
  if (rows === undefined) return;
  for (const button of (rows as InlineKeyboardButton[][]).flat()) {
    if ("callback_data" in button) {
      const bytes = Buffer.byteLength(button.callback_data, "utf8");
      if (bytes < 1 || bytes > MAX_CALLBACK_DATA_BYTES) {
        throw new TelegramError(400, "Bad Request: BUTTON_DATA_INVALID");
      }
    }
  }
}

const HTML_TAGS = new Set([
  "b",
  "strong",
  "i",
  "em",
  "u",
  "ins",
  "s",
  "strike",
  "del",
  "span",
  "tg-spoiler",
  "a",
  "tg-emoji",
  "code",
  "pre",
  "blockquote",
]);
const NAMED_ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"' };

/**
 * Parses Telegram's HTML the way the Bot API does (tags it supports, properly nested; only
 * `&lt; &gt; &amp; &quot;` and numeric entities) and returns the visible text; throws Telegram's
 * "can't parse entities" error otherwise.
 */
export function parseTelegramHtml(html: string): string {
  const open: string[] = [];
  let visible = "";
  let index = 0;
  const fail = (reason: string): never => {
    throw new TelegramError(
      400,
      `Bad Request: can't parse entities: ${reason} at byte offset ${Buffer.byteLength(html.slice(0, index))}`,
    );
  };
  while (index < html.length) {
    const character = html[index] ?? "";
    if (character === "<") {
      const tag =
        /^<(\/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:="[^"<>]*"|='[^'<>]*'|=[^\s"'<>]+)?)*)\s*>/.exec(
          html.slice(index),
        );
      if (tag === null) fail("Unexpected character '<'");
      const [text = "", slash, rawName = "", attributes = ""] = tag ?? [];
      const name = rawName.toLowerCase();
      if (!HTML_TAGS.has(name)) fail(`Unsupported start tag "${name}"`);
      if (slash === "/") {
        if (open.pop() !== name) fail(`Unmatched end tag "${name}"`);
      } else {
        if (name === "a" && !/href=/.test(attributes)) fail('Tag "a" must have attribute "href"');
        open.push(name);
      }
      index += text.length;
    } else if (character === "&") {
      const entity = /^&(#\d{1,7}|#x[0-9a-fA-F]{1,6}|[a-zA-Z]+);/.exec(
        html.slice(index, index + 12),
      );
      const body = entity?.[1] ?? "";
      if (entity === null) fail("Character '&' is not part of an entity");
      if (body.startsWith("#x"))
        visible += String.fromCodePoint(Number.parseInt(body.slice(2), 16));
      else if (body.startsWith("#")) visible += String.fromCodePoint(Number(body.slice(1)));
      else if (NAMED_ENTITIES[body] !== undefined) visible += NAMED_ENTITIES[body];
      else fail(`Unsupported entity "${body}"`);
      index += entity?.[0].length ?? 1;
    } else if (character === ">") {
      fail("Unexpected character '>'");
    } else {
      visible += character;
      index += 1;
    }
  }
  if (open.length > 0) fail(`Can't find end tag corresponding to start tag "${open.at(-1)}"`);
  return visible;
}
