import { sql } from "drizzle-orm";
import { bigint, check, integer, jsonb, pgTable, text, unique } from "drizzle-orm/pg-core";
import type { TradingState } from "../../domain/tradingState";
import { decimal, instant } from "./columns";
import { accountEnvironment, tradingState, tradingStateSource } from "./enums";
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
    /** AUTO (daily-loss switch, session reset) or MANUAL (a trader): manual states never lift by themselves. */
    tradingStateSource: tradingStateSource("trading_state_source").notNull().default("AUTO"),
    tradingStateReason: text("trading_state_reason").notNull().default("New account"),
    /** Who set it: `user:<telegram id>`, `system:<rule>`, `api`. */
    tradingStateSetBy: text("trading_state_set_by").notNull().default("system"),
    tradingStateSince: instant("trading_state_since").notNull(),
    /** The trader's restriction an automatic halt overrode, restored when the halt resets. */
    tradingStateRestoresTo: jsonb("trading_state_restores_to").$type<TradingState>(),
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

/** Risk limits of one account, field for field the domain's `RiskLimits`; percentages are of equity. */
export const riskLimits = pgTable(
  "risk_limits",
  {
    accountId: bigint("account_id", { mode: "number" })
      .primaryKey()
      .references(() => brokerAccounts.id),
    riskPerTradePercent: decimal("risk_per_trade_percent").notNull(),
    maxPositionPercent: decimal("max_position_percent").notNull(),
    maxOpenPositions: integer("max_open_positions").notNull(),
    maxDailyLossPercent: decimal("max_daily_loss_percent").notNull(),
    dailyLossWarningFraction: decimal("daily_loss_warning_fraction").notNull(),
    maxTotalExposurePercent: decimal("max_total_exposure_percent").notNull(),
    maxSectorExposurePercent: decimal("max_sector_exposure_percent").notNull(),
    maxSlippagePercent: decimal("max_slippage_percent").notNull(),
    priceCollarPercent: decimal("price_collar_percent").notNull(),
    duplicateWindowMs: integer("duplicate_window_ms").notNull(),
    minRewardToRisk: decimal("min_reward_to_risk").notNull(),
    maxOrdersPerMinute: integer("max_orders_per_minute").notNull(),
    updatedBy: text("updated_by").notNull(),
    updatedAt: instant("updated_at").notNull(),
  },
  (t) => [
    check(
      "risk_limits_positive",
      sql`${t.riskPerTradePercent} > 0 and ${t.maxPositionPercent} > 0 and ${t.maxDailyLossPercent} > 0`,
    ),
    check(
      "risk_limits_counts",
      sql`${t.maxOpenPositions} >= 0 and ${t.maxOrdersPerMinute} >= 0 and ${t.duplicateWindowMs} >= 0`,
    ),
  ],
);
