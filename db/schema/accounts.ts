import { sql } from "drizzle-orm";
import { bigint, boolean, check, integer, pgTable, text, unique } from "drizzle-orm/pg-core";
import { decimal, instant } from "./columns";
import { accountEnvironment, tradingState } from "./enums";
import { users } from "./users";

/**
 * A broker account the desk trades. The trading state (ACTIVE / REDUCING / HALTED) lives here with
 * why it was set, by whom and when, so every path reads one persisted switch.
 */
export const brokerAccounts = pgTable(
  "broker_accounts",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    ownerUserId: bigint("owner_user_id", { mode: "number" }).references(() => users.id),
    broker: text("broker").notNull().default("alpaca"),
    environment: accountEnvironment("environment").notNull().default("paper"),
    /** The broker's own account id or number. */
    brokerAccountId: text("broker_account_id").notNull(),
    label: text("label"),
    /** Ciphertext only (encrypted with SECRETS_KEY before it gets here); never plain keys. */
    encryptedCredentials: text("encrypted_credentials"),
    tradingState: tradingState("trading_state").notNull().default("ACTIVE"),
    tradingStateReason: text("trading_state_reason"),
    /** `user:<telegram id>` or `system:<rule>`. */
    tradingStateSetBy: text("trading_state_set_by"),
    /** Set by a trader by hand: survives the next session open instead of resetting. */
    tradingStateManual: boolean("trading_state_manual").notNull().default(false),
    tradingStateChangedAt: instant("trading_state_changed_at"),
    /** Last account snapshot from the broker. */
    equity: decimal("equity"),
    lastEquity: decimal("last_equity"),
    cash: decimal("cash"),
    buyingPower: decimal("buying_power"),
    lastSyncedAt: instant("last_synced_at"),
    createdAt: instant("created_at").notNull(),
    updatedAt: instant("updated_at").notNull(),
  },
  (t) => [unique("broker_accounts_broker_account").on(t.broker, t.environment, t.brokerAccountId)],
);

/**
 * Risk limits of one account. Percentages are of equity (1.5 means 1.5 %); absent optional
 * limits are not enforced.
 */
export const riskLimits = pgTable(
  "risk_limits",
  {
    accountId: bigint("account_id", { mode: "number" })
      .primaryKey()
      .references(() => brokerAccounts.id),
    riskPerTradePct: decimal("risk_per_trade_pct").notNull(),
    maxPositionPct: decimal("max_position_pct").notNull(),
    maxOpenPositions: integer("max_open_positions").notNull(),
    maxTotalExposurePct: decimal("max_total_exposure_pct").notNull(),
    maxSectorExposurePct: decimal("max_sector_exposure_pct"),
    dailyLossLimitPct: decimal("daily_loss_limit_pct"),
    dailyLossLimitAmount: decimal("daily_loss_limit_amount"),
    minRewardRisk: decimal("min_reward_risk"),
    priceCollarPct: decimal("price_collar_pct"),
    duplicateWindowSeconds: integer("duplicate_window_seconds"),
    maxOrdersPerMinute: integer("max_orders_per_minute"),
    updatedBy: text("updated_by").notNull(),
    updatedAt: instant("updated_at").notNull(),
  },
  (t) => [
    check("risk_limits_positive", sql`${t.riskPerTradePct} > 0 and ${t.maxPositionPct} > 0`),
    check("risk_limits_open_positions", sql`${t.maxOpenPositions} >= 0`),
  ],
);
