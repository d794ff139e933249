import { bigint, boolean, integer, pgTable } from "drizzle-orm/pg-core";
import { brokerAccounts } from "./accounts";
import { decimal, instant } from "./columns";

/**
 * Kill-switch settings of one account, every one off by default: flatten when the daily-loss
 * switch halts, the drawdown-from-peak breaker, and the loss-streak cooldown. No row = defaults.
 */
export const killSwitchSettings = pgTable("kill_switch_settings", {
  accountId: bigint("account_id", { mode: "number" })
    .primaryKey()
    .references(() => brokerAccounts.id),
  /** Close every position when the daily-loss switch halts the account. */
  flattenOnHalt: boolean("flatten_on_halt").notNull().default(false),
  /** Percent below the equity peak of the last `drawdown_days` that halts; null = off. */
  maxDrawdownPercent: decimal("max_drawdown_percent"),
  drawdownDays: integer("drawdown_days").notNull().default(5),
  /** Stop-outs within the window that pause entries; null = off. */
  lossStreakCount: integer("loss_streak_count"),
  lossStreakWindowMinutes: integer("loss_streak_window_minutes").notNull().default(60),
  lossStreakPauseMinutes: integer("loss_streak_pause_minutes").notNull().default(30),
  updatedAt: instant("updated_at").notNull(),
});
