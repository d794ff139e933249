import { type CircuitBreakerProblem, validateCircuitBreakers } from "../domain/circuitBreakers";
import { type Ok, ok } from "../domain/outcome";
import type { Database } from "./database";
import { appendLog } from "./executionLog";
import {
  type KillSwitchSettings,
  loadKillSwitchSettings,
  saveKillSwitchSettings,
} from "./killSwitchSettings";

/** Saving refused: the settings break the domain's validation. */
export interface InvalidKillSwitchSettings {
  readonly ok: false;
  readonly code: "INVALID_KILL_SWITCH_SETTING";
  readonly message: string;
  readonly problems: readonly CircuitBreakerProblem[];
}

/**
 * Validates (domain `validateCircuitBreakers`) and stores an account's kill-switch settings as a
 * person's edit, logging the old and new values in the same transaction.
 */
export async function changeKillSwitchSettings(
  db: Database,
  accountId: number,
  settings: KillSwitchSettings,
  actor: string,
  at: Date,
): Promise<Ok<KillSwitchSettings> | InvalidKillSwitchSettings> {
  const problems = validateCircuitBreakers(settings);
  const first = problems[0];
  if (first)
    return { ok: false, code: "INVALID_KILL_SWITCH_SETTING", message: first.message, problems };
  await db.transaction(async (tx) => {
    const before = await loadKillSwitchSettings(tx, accountId);
    await saveKillSwitchSettings(tx, accountId, settings, at);
    // The log has no entity of its own for these; they are part of the account's risk limits.
    await appendLog(tx, {
      entity: "risk_limits",
      entityId: accountId,
      event: "KILL_SWITCH_SETTINGS_CHANGED",
      details: { before, after: settings },
      source: actor,
      accountId,
      occurredAt: at,
    });
  });
  return ok(settings);
}
