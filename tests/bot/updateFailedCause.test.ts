/**
 * What a trader is told when an update fails depends on what failed: a Telegram call refused or
 * unanswered is not blamed on the desk's database, queue or broker.
 */
import type { Context } from "grammy";
import { GrammyError, HttpError } from "grammy";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { tellUpdateFailed, UPDATE_FAILED_TEXT } from "../../bot/updateFailed";

/** A chat message's context that records what it is answered. */
function messageContext(): { ctx: Context; said: string[] } {
  const said: string[] = [];
  const ctx = {
    update: { update_id: 1 },
    chat: { id: 42, type: "private" },
    callbackQuery: undefined,
    reply: async (text: string) => {
      said.push(text);
    },
  } as unknown as Context;
  return { ctx, said };
}

const logger = pino({ level: "silent" });

describe("the answer to a failed update", () => {
  it("says Telegram refused a call when it did", async () => {
    const { ctx, said } = messageContext();
    const refused = new GrammyError(
      "Call to 'editMessageText' failed!",
      { ok: false, error_code: 400, description: "Bad Request: message to edit not found" },
      "editMessageText",
      {},
    );
    await tellUpdateFailed(ctx, logger, refused);
    expect(said).toEqual([
      "That did not go through: Telegram refused a message the desk sent, so it stopped part way. Check /orders and /positions before you try again.",
    ]);
  });

  it("says Telegram did not answer when it could not be reached", async () => {
    const { ctx, said } = messageContext();
    const unreached = new HttpError(
      "Network request for 'sendMessage' failed!",
      new Error("ECONNRESET"),
    );
    await tellUpdateFailed(ctx, logger, unreached);
    expect(said).toEqual([
      "That did not go through: Telegram did not answer the desk, so it stopped part way. Check /orders and /positions before you try again.",
    ]);
  });

  it("names the database, queue or broker for anything else", async () => {
    const { ctx, said } = messageContext();
    await tellUpdateFailed(ctx, logger, new Error("Command timed out"));
    expect(said).toEqual([UPDATE_FAILED_TEXT]);
    expect(UPDATE_FAILED_TEXT).toContain("its database, queue or broker did not answer");
  });

  it("fits every answer in a button's pop-up (200 characters)", async () => {
    const { ctx, said } = messageContext();
    await tellUpdateFailed(ctx, logger, new HttpError("x", new Error("y")));
    for (const text of [...said, UPDATE_FAILED_TEXT]) expect(text.length).toBeLessThanOrEqual(200);
  });
});
