import { sql } from "drizzle-orm";
import { type Ok, ok } from "../domain/outcome";
import {
  DEFAULT_RISK_LIMITS,
  type RiskLimitProblem,
  type RiskLimits,
  validateRiskLimits,
} from "../domain/riskLimits";
import { compileStatement, type Database, runCompiled } from "./database";
import { appendLog } from "./executionLog";
import { rowOfJson } from "./jsonRows";
import { riskLimits } from "./schema";

// Read before every entry: compiled once, only the account id is sent.
const limitsStatement = compileStatement(
  sql`select * from ${riskLimits} where ${riskLimits.accountId} = ${sql.placeholder("account")}`,
);

/** An account's risk limits; the domain defaults when none were ever saved. */
export async function loadRiskLimits(db: Database, accountId: number): Promise<RiskLimits> {
  const [raw] = await runCompiled(db, limitsStatement, { account: accountId });
  if (!raw) return DEFAULT_RISK_LIMITS;
  const row = rowOfJson<typeof riskLimits.$inferSelect>(riskLimits, raw);
  const { accountId: _account, updatedBy: _by, updatedAt: _at, ...limits } = row;
  return limits;
}

/** Saving refused: the limits break the domain's validation. */
export interface InvalidRiskLimits {
  readonly ok: false;
  readonly code: "INVALID_RISK_LIMIT";
  readonly message: string;
  readonly problems: readonly RiskLimitProblem[];
}

/**
 * Validates (domain `validateRiskLimits`) and stores an account's risk limits, logging the old and
 * new values in the same transaction.
 */
export async function saveRiskLimits(
  db: Database,
  accountId: number,
  limits: RiskLimits,
  actor: string,
  at: Date,
): Promise<Ok<RiskLimits> | InvalidRiskLimits> {
  const problems = validateRiskLimits(limits);
  const first = problems[0];
  if (first) return { ok: false, code: "INVALID_RISK_LIMIT", message: first.message, problems };
  await db.transaction(async (tx) => {
    const before = await loadRiskLimits(tx, accountId);
    await tx
      .insert(riskLimits)
      .values({ accountId, ...limits, updatedBy: actor, updatedAt: at })
      .onConflictDoUpdate({
        target: riskLimits.accountId,
        set: { ...limits, updatedBy: actor, updatedAt: at },
      });
    await appendLog(tx, {
      entity: "risk_limits",
      entityId: accountId,
      event: "RISK_LIMITS_CHANGED",
      details: { before, after: limits },
      source: actor,
      accountId,
      occurredAt: at,
    });
  });
  return ok(limits);
}
