/**
 * The notice sender wired to the desk's database: settings from users (db/userSettings.ts),
 * threads from the sent outbox rows and the alert messages decisions came from
 * (db/noticeThreads.ts).
 */
import type { Api } from "grammy";
import type { Logger } from "pino";
import type { Database } from "../../db/database";
import { findDecisionMessage, findEntryMessage } from "../../db/noticeThreads";
import { loadUserSettings } from "../../db/userSettings";
import {
  createTelegramNoticeSender,
  type TelegramNoticeSender,
  type TelegramNoticeSenderDeps,
} from "./telegramNoticeSender";

export interface DeskNoticeSenderDeps
  extends Partial<Omit<TelegramNoticeSenderDeps, "api" | "logger">> {
  readonly api: Api;
  readonly db: Database;
  readonly logger: Logger;
}

/** The sender the runtime hands to the notify job. */
export function createDeskNoticeSender(deps: DeskNoticeSenderDeps): TelegramNoticeSender {
  const { db, ...rest } = deps;
  return createTelegramNoticeSender({
    settingsOf: async (chatId) => (await loadUserSettings(db, chatId)).notifications,
    entryMessageOf: (chatId, key) => findEntryMessage(db, chatId, key),
    decisionMessageOf: (chatId, decisionId) => findDecisionMessage(db, chatId, decisionId),
    ...rest,
  });
}
