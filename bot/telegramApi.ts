/**
 * The Bot API client settings every sender shares: the bot itself and any worker that pushes
 * notifications (fills, alerts) through the same Bot API.
 */
import { autoRetry } from "@grammyjs/auto-retry";
import { apiThrottler } from "@grammyjs/transformer-throttler";
import { Api, type Transformer } from "grammy";

export interface TelegramApiTransformers {
  /** Retries 429 (after Telegram's retry_after) and 5xx answers, 3 times at most. */
  readonly retry: Transformer;
  /** Telegram's limits: about 1 message/s per chat, 20/min per group, 30/s in all. */
  readonly throttle: Transformer;
}

/**
 * New transformers for one sender. Network failures are rethrown rather than retried forever,
 * so a handler fails instead of holding its chat.
 */
export function createTelegramApiTransformers(): TelegramApiTransformers {
  return {
    retry: autoRetry({ maxRetryAttempts: 3, maxDelaySeconds: 60, rethrowHttpErrors: true }),
    throttle: apiThrottler(),
  };
}

/** Installs them on a client: the throttler wraps auto-retry, so a retry keeps its chat's place. */
export function useTelegramApiTransformers(api: Api, transformers: TelegramApiTransformers): void {
  api.config.use(transformers.retry);
  api.config.use(transformers.throttle);
}

/**
 * The client of a conversation's context with auto-retry and the throttler beneath its replay
 * layer. conversations() gives each context a fresh client whose one transformer records every
 * call and, on replay, answers it from the record without sending it again. Transformers
 * installed the usual way would wrap that layer and pace the replayed calls too (a second each
 * per chat, on every update of an open form); rebuilt beneath it, only calls that really go out
 * are paced and retried.
 */
export function conversationApiWith(
  conversationApi: Api,
  transformers: TelegramApiTransformers,
): Api {
  const api = new Api(conversationApi.token, conversationApi.options);
  useTelegramApiTransformers(api, transformers);
  api.config.use(...conversationApi.config.installedTransformers());
  return api;
}

/** A Bot API client for code that sends without handling updates (notification workers). */
export function createTelegramApi(options: {
  readonly token: string;
  readonly apiRoot: string;
}): Api {
  const api = new Api(options.token, { apiRoot: options.apiRoot });
  useTelegramApiTransformers(api, createTelegramApiTransformers());
  return api;
}
