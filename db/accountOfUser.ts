/**
 * Which broker account a Telegram user trades: the account they own (broker_accounts.owner_user_id,
 * the oldest if several), else the deployment's default account, the one with the lowest id. Every
 * path that acts for a trader (/plan, alert approvals, /positions, /close...) resolves it here.
 */
import { asc, eq } from "drizzle-orm";
import type { BrokerAccount } from "./brokerAccounts";
import type { Database } from "./database";
import { brokerAccounts, users } from "./schema";

/** The account the user trades; null only when the deployment has no account at all. */
export async function findAccountForUser(
  db: Database,
  telegramUserId: number,
): Promise<BrokerAccount | null> {
  const [owned] = await db
    .select({ account: brokerAccounts })
    .from(brokerAccounts)
    .innerJoin(users, eq(users.id, brokerAccounts.ownerUserId))
    .where(eq(users.telegramUserId, telegramUserId))
    .orderBy(asc(brokerAccounts.id))
    .limit(1);
  if (owned) return owned.account;
  const [fallback] = await db
    .select()
    .from(brokerAccounts)
    .orderBy(asc(brokerAccounts.id))
    .limit(1);
  return fallback ?? null;
}
