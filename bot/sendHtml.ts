/**
 * Sending HTML that may outgrow one message: lists are split (bot/views/split.ts) and sent in
 * order, never truncated. Use it for anything whose length depends on data.
 */
import type { Api } from "grammy";
import type { Message } from "grammy/types";
import { splitMessage } from "./views/split";

export type SendHtmlOptions = Omit<
  NonNullable<Parameters<Api["sendMessage"]>[2]>,
  "parse_mode" | "reply_markup"
> & {
  /** Attached to the last part only, so buttons sit under the end of the list. */
  readonly reply_markup?: NonNullable<Parameters<Api["sendMessage"]>[2]>["reply_markup"];
};

/** Sends `html` in as many messages as it needs, in order; returns them. */
export async function sendHtml(
  api: Api,
  chatId: number | string,
  html: string,
  options: SendHtmlOptions = {},
): Promise<Message.TextMessage[]> {
  const parts = splitMessage(html);
  const { reply_markup: replyMarkup, ...rest } = options;
  const sent: Message.TextMessage[] = [];
  for (const [index, part] of parts.entries()) {
    const last = index === parts.length - 1;
    sent.push(
      await api.sendMessage(chatId, part, {
        ...rest,
        parse_mode: "HTML",
        ...(last && replyMarkup !== undefined ? { reply_markup: replyMarkup } : {}),
      }),
    );
  }
  return sent;
}
