/**
 * A bot that stops while a plan card's Confirm is under way, or while a confirmed card follows
 * its order, leaves the card as it was: "Working…" over a decision already stored and sent, or a
 * step long past. The card's message and the card itself are kept with its decision, in the
 * transaction that stores it (planService.ts, submitCard), so the started bot takes up each recent
 * card's follow: its first step redraws the card as confirmed with where the order stands now.
 */
import { and, gte, isNotNull, like, ne } from "drizzle-orm";
import type { Database } from "../../db/database";
import { decisions } from "../../db/schema";
import { type FollowRequest, renderFollowedCard } from "./planFollow";
import { keptPlanCard, NOT_QUEUED_REASON, planCardKey } from "./planService";

/** Cards confirmed this long before a start are brought up to date by it. */
export const RESUME_WINDOW_MS = 60 * 60_000;

/** The confirmed cards of the window, as follow requests; returns how many. */
export async function resumeCardFollows(
  db: Database,
  now: Date,
  follow: (request: FollowRequest) => void,
  windowMs: number = RESUME_WINDOW_MS,
): Promise<number> {
  const rows = await db
    .select()
    .from(decisions)
    .where(
      and(
        like(decisions.idempotencyKey, `${planCardKey("")}%`),
        isNotNull(decisions.planChatId),
        isNotNull(decisions.planMessageId),
        // A card's Cancel holds its key with a rejected decision: that card settled itself.
        ne(decisions.status, "rejected"),
        gte(decisions.createdAt, new Date(now.getTime() - windowMs)),
      ),
    )
    .orderBy(decisions.id);
  let resumed = 0;
  for (const row of rows) {
    const card = keptPlanCard(row);
    if (card === null || row.planChatId === null || row.planMessageId === null) continue;
    // Withdrawn at the Confirm itself: its card says so and was never shown as confirmed.
    if (row.status === "failed" && row.statusReason === NOT_QUEUED_REASON) continue;
    follow({
      chatId: row.planChatId,
      messageId: row.planMessageId,
      decisionId: row.id,
      render: (progress) => renderFollowedCard(card, row.id, progress),
    });
    resumed += 1;
  }
  return resumed;
}
