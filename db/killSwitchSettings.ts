import { eq } from "drizzle-orm";
import { type CircuitBreakerSettings, DEFAULT_CIRCUIT_BREAKERS } from "../domain/circuitBreakers";
import type { Database } from "./database";
import { killSwitchSettings } from "./schema";

/** An account's kill-switch settings: the circuit breakers and automatic flatten. */
export interface KillSwitchSettings extends CircuitBreakerSettings {
  readonly flattenOnHalt: boolean;
}

export const DEFAULT_KILL_SWITCH_SETTINGS: KillSwitchSettings = {
  ...DEFAULT_CIRCUIT_BREAKERS,
  flattenOnHalt: false,
};

/** The account's settings; the defaults (everything off) when none were saved. */
export async function loadKillSwitchSettings(
  db: Database,
  accountId: number,
): Promise<KillSwitchSettings> {
  const [row] = await db
    .select()
    .from(killSwitchSettings)
    .where(eq(killSwitchSettings.accountId, accountId));
  if (!row) return DEFAULT_KILL_SWITCH_SETTINGS;
  return {
    flattenOnHalt: row.flattenOnHalt,
    maxDrawdownPercent: row.maxDrawdownPercent,
    drawdownDays: row.drawdownDays,
    lossStreakCount: row.lossStreakCount,
    lossStreakWindowMinutes: row.lossStreakWindowMinutes,
    lossStreakPauseMinutes: row.lossStreakPauseMinutes,
  };
}

/** Stores the account's settings (replacing any saved before). */
export async function saveKillSwitchSettings(
  db: Database,
  accountId: number,
  settings: KillSwitchSettings,
  at: Date,
): Promise<void> {
  const values = { ...settings, accountId, updatedAt: at };
  await db
    .insert(killSwitchSettings)
    .values(values)
    .onConflictDoUpdate({ target: killSwitchSettings.accountId, set: values });
}
