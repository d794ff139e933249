CREATE TYPE "public"."account_environment" AS ENUM('paper', 'live');--> statement-breakpoint
CREATE TYPE "public"."alert_status" AS ENUM('received', 'sent', 'approved', 'rejected', 'expired');--> statement-breakpoint
CREATE TYPE "public"."decision_source" AS ENUM('manual', 'alert', 'api');--> statement-breakpoint
CREATE TYPE "public"."decision_status" AS ENUM('pending', 'approved', 'rejected', 'expired', 'executing', 'executed', 'failed');--> statement-breakpoint
CREATE TYPE "public"."event_source" AS ENUM('stream', 'poll', 'reconcile', 'inferred', 'local');--> statement-breakpoint
CREATE TYPE "public"."exit_reason" AS ENUM('STOPPED_OUT', 'PROFIT_TAKEN', 'MANUAL_EXIT', 'FLATTENED');--> statement-breakpoint
CREATE TYPE "public"."log_entity" AS ENUM('order', 'fill', 'position', 'trade', 'decision', 'alert', 'account', 'risk_limits');--> statement-breakpoint
CREATE TYPE "public"."order_class" AS ENUM('simple', 'bracket', 'oco', 'oto');--> statement-breakpoint
CREATE TYPE "public"."order_role" AS ENUM('ENTRY', 'STOP_LOSS', 'TAKE_PROFIT', 'EXIT', 'SLICE');--> statement-breakpoint
CREATE TYPE "public"."order_side" AS ENUM('buy', 'sell');--> statement-breakpoint
CREATE TYPE "public"."order_status" AS ENUM('new', 'partially_filled', 'filled', 'done_for_day', 'canceled', 'expired', 'replaced', 'pending_cancel', 'pending_replace', 'accepted', 'pending_new', 'accepted_for_bidding', 'stopped', 'rejected', 'suspended', 'calculated', 'held');--> statement-breakpoint
CREATE TYPE "public"."order_type" AS ENUM('market', 'limit', 'stop', 'stop_limit', 'trailing_stop');--> statement-breakpoint
CREATE TYPE "public"."outbox_status" AS ENUM('pending', 'sent', 'failed');--> statement-breakpoint
CREATE TYPE "public"."position_side" AS ENUM('long', 'short');--> statement-breakpoint
CREATE TYPE "public"."time_in_force" AS ENUM('day', 'gtc', 'opg', 'cls', 'ioc', 'fok');--> statement-breakpoint
CREATE TYPE "public"."trade_status" AS ENUM('ORDERED', 'POSITION', 'CLOSED', 'CANCELLED');--> statement-breakpoint
CREATE TYPE "public"."trading_state" AS ENUM('ACTIVE', 'REDUCING', 'HALTED');--> statement-breakpoint
CREATE TYPE "public"."trading_state_source" AS ENUM('AUTO', 'MANUAL');--> statement-breakpoint
CREATE TYPE "public"."user_role" AS ENUM('admin', 'trader', 'viewer');--> statement-breakpoint
CREATE TABLE "broker_accounts" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "broker_accounts_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"owner_user_id" bigint,
	"broker" text DEFAULT 'alpaca' NOT NULL,
	"environment" "account_environment" DEFAULT 'paper' NOT NULL,
	"broker_account_id" text NOT NULL,
	"label" text,
	"encrypted_credentials" text,
	"trading_state" "trading_state" DEFAULT 'ACTIVE' NOT NULL,
	"trading_state_source" "trading_state_source" DEFAULT 'AUTO' NOT NULL,
	"trading_state_reason" text DEFAULT 'New account' NOT NULL,
	"trading_state_set_by" text DEFAULT 'system' NOT NULL,
	"trading_state_since" timestamp with time zone NOT NULL,
	"trading_state_restores_to" jsonb,
	"equity" numeric,
	"last_equity" numeric,
	"cash" numeric,
	"buying_power" numeric,
	"last_synced_at" timestamp with time zone,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "broker_accounts_broker_account" UNIQUE("broker","environment","broker_account_id")
);
--> statement-breakpoint
CREATE TABLE "risk_limits" (
	"account_id" bigint PRIMARY KEY NOT NULL,
	"risk_per_trade_percent" numeric NOT NULL,
	"max_position_percent" numeric NOT NULL,
	"max_open_positions" integer NOT NULL,
	"max_daily_loss_percent" numeric NOT NULL,
	"daily_loss_warning_fraction" numeric NOT NULL,
	"max_total_exposure_percent" numeric NOT NULL,
	"max_sector_exposure_percent" numeric NOT NULL,
	"max_slippage_percent" numeric NOT NULL,
	"price_collar_percent" numeric NOT NULL,
	"duplicate_window_ms" integer NOT NULL,
	"min_reward_to_risk" numeric NOT NULL,
	"max_orders_per_minute" integer NOT NULL,
	"updated_by" text NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "risk_limits_positive" CHECK ("risk_limits"."risk_per_trade_percent" > 0 and "risk_limits"."max_position_percent" > 0 and "risk_limits"."max_daily_loss_percent" > 0),
	CONSTRAINT "risk_limits_counts" CHECK ("risk_limits"."max_open_positions" >= 0 and "risk_limits"."max_orders_per_minute" >= 0 and "risk_limits"."duplicate_window_ms" >= 0)
);
--> statement-breakpoint
CREATE TABLE "alert_messages" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "alert_messages_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"alert_id" bigint NOT NULL,
	"chat_id" bigint NOT NULL,
	"message_id" bigint NOT NULL,
	"sent_at" timestamp with time zone NOT NULL,
	CONSTRAINT "alert_messages_chat_message" UNIQUE("chat_id","message_id")
);
--> statement-breakpoint
CREATE TABLE "alerts" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "alerts_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"external_id" text NOT NULL,
	"account_id" bigint,
	"symbol" text NOT NULL,
	"pattern" text,
	"score" numeric,
	"entry_price" numeric,
	"stop_price" numeric,
	"target_price" numeric,
	"last_price" numeric,
	"source" text,
	"payload" jsonb NOT NULL,
	"status" "alert_status" DEFAULT 'received' NOT NULL,
	"received_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "alerts_external_id_unique" UNIQUE("external_id")
);
--> statement-breakpoint
CREATE TABLE "decisions" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "decisions_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"account_id" bigint NOT NULL,
	"source" "decision_source" NOT NULL,
	"alert_id" bigint,
	"symbol" text NOT NULL,
	"side" "order_side" NOT NULL,
	"entry_type" "order_type" NOT NULL,
	"entry_price" numeric,
	"stop_price" numeric NOT NULL,
	"target_price" numeric,
	"quantity" numeric NOT NULL,
	"risk_amount" numeric NOT NULL,
	"time_in_force" time_in_force DEFAULT 'day' NOT NULL,
	"status" "decision_status" DEFAULT 'pending' NOT NULL,
	"status_reason" text,
	"created_by" text NOT NULL,
	"decided_by_user_id" bigint,
	"decided_at" timestamp with time zone,
	"scheduled_for" timestamp with time zone,
	"expires_at" timestamp with time zone,
	"executed_at" timestamp with time zone,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "decisions_quantity_positive" CHECK ("decisions"."quantity" > 0),
	CONSTRAINT "decisions_limit_has_price" CHECK ("decisions"."entry_type" <> 'limit' or "decisions"."entry_price" is not null)
);
--> statement-breakpoint
CREATE TABLE "equity_snapshots" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "equity_snapshots_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"account_id" bigint NOT NULL,
	"trading_day" date NOT NULL,
	"equity" numeric NOT NULL,
	"previous_close_equity" numeric NOT NULL,
	"cash" numeric NOT NULL,
	"realized_pnl" numeric NOT NULL,
	"unrealized_pnl" numeric NOT NULL,
	"open_positions" integer NOT NULL,
	"taken_at" timestamp with time zone NOT NULL,
	CONSTRAINT "equity_snapshots_account_day" UNIQUE("account_id","trading_day")
);
--> statement-breakpoint
CREATE TABLE "execution_log" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "execution_log_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"entity" "log_entity" NOT NULL,
	"entity_id" text NOT NULL,
	"event" text NOT NULL,
	"status_before" text,
	"status_after" text,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"source" text NOT NULL,
	"account_id" bigint,
	"decision_id" bigint,
	"trade_id" bigint,
	"order_id" bigint,
	"occurred_at" timestamp with time zone NOT NULL,
	"recorded_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "notification_outbox" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "notification_outbox_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"dedupe_key" text NOT NULL,
	"chat_id" bigint NOT NULL,
	"kind" text NOT NULL,
	"payload" jsonb NOT NULL,
	"status" "outbox_status" DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone NOT NULL,
	"last_error" text,
	"telegram_message_id" bigint,
	"created_at" timestamp with time zone NOT NULL,
	"sent_at" timestamp with time zone,
	CONSTRAINT "notification_outbox_dedupe_key_unique" UNIQUE("dedupe_key")
);
--> statement-breakpoint
CREATE TABLE "fills" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "fills_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"order_id" bigint NOT NULL,
	"account_id" bigint NOT NULL,
	"execution_id" text NOT NULL,
	"symbol" text NOT NULL,
	"side" "order_side" NOT NULL,
	"quantity" numeric NOT NULL,
	"price" numeric NOT NULL,
	"commission" numeric DEFAULT 0 NOT NULL,
	"cumulative_quantity" numeric NOT NULL,
	"order_avg_price" numeric NOT NULL,
	"source" "event_source" NOT NULL,
	"filled_at" timestamp with time zone NOT NULL,
	"recorded_at" timestamp with time zone NOT NULL,
	CONSTRAINT "fills_execution_id_unique" UNIQUE("execution_id"),
	CONSTRAINT "fills_quantity_positive" CHECK ("fills"."quantity" > 0 and "fills"."price" > 0)
);
--> statement-breakpoint
CREATE TABLE "orders" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "orders_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"account_id" bigint NOT NULL,
	"trade_id" bigint,
	"parent_order_id" bigint,
	"protects_fill_id" bigint,
	"replaces_order_id" bigint,
	"client_order_id" text NOT NULL,
	"broker_order_id" text,
	"symbol" text NOT NULL,
	"role" "order_role" NOT NULL,
	"exit_reason" "exit_reason",
	"order_class" "order_class" DEFAULT 'simple' NOT NULL,
	"type" "order_type" NOT NULL,
	"side" "order_side" NOT NULL,
	"time_in_force" time_in_force NOT NULL,
	"extended_hours" boolean DEFAULT false NOT NULL,
	"quantity" numeric NOT NULL,
	"filled_quantity" numeric DEFAULT 0 NOT NULL,
	"filled_notional" numeric DEFAULT 0 NOT NULL,
	"filled_avg_price" numeric,
	"limit_price" numeric,
	"stop_price" numeric,
	"trail_percent" numeric,
	"status" "order_status" NOT NULL,
	"status_before_pending" "order_status",
	"applied_execution_ids" text[] DEFAULT '{}'::text[] NOT NULL,
	"replaced_by_broker_order_id" text,
	"rejection_source" text,
	"rejection_reason" text,
	"expected_price" numeric,
	"estimated_slippage" numeric,
	"actual_slippage" numeric,
	"commission" numeric DEFAULT 0 NOT NULL,
	"submitted_at" timestamp with time zone,
	"accepted_at" timestamp with time zone,
	"filled_at" timestamp with time zone,
	"canceled_at" timestamp with time zone,
	"expired_at" timestamp with time zone,
	"rejected_at" timestamp with time zone,
	"last_event_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "orders_client_order_id_unique" UNIQUE("client_order_id"),
	CONSTRAINT "orders_broker_order_id_unique" UNIQUE("broker_order_id"),
	CONSTRAINT "orders_protects_fill_role" UNIQUE("protects_fill_id","role"),
	CONSTRAINT "orders_quantity_positive" CHECK ("orders"."quantity" > 0),
	CONSTRAINT "orders_filled_within_quantity" CHECK ("orders"."filled_quantity" >= 0 and "orders"."filled_quantity" <= "orders"."quantity")
);
--> statement-breakpoint
CREATE TABLE "positions" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "positions_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"account_id" bigint NOT NULL,
	"trade_id" bigint,
	"symbol" text NOT NULL,
	"quantity" numeric NOT NULL,
	"cost_basis" numeric NOT NULL,
	"average_cost" numeric NOT NULL,
	"realized_pnl" numeric NOT NULL,
	"commissions" numeric NOT NULL,
	"mark_price" numeric,
	"market_value" numeric,
	"unrealized_pnl" numeric,
	"protective_order_ids" bigint[] DEFAULT '{}'::bigint[] NOT NULL,
	"opened_at" timestamp with time zone NOT NULL,
	"marked_at" timestamp with time zone,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "positions_account_symbol" UNIQUE("account_id","symbol"),
	CONSTRAINT "positions_quantity_nonzero" CHECK ("positions"."quantity" <> 0)
);
--> statement-breakpoint
CREATE TABLE "trades" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "trades_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"account_id" bigint NOT NULL,
	"decision_id" bigint,
	"symbol" text NOT NULL,
	"side" "position_side" NOT NULL,
	"status" "trade_status" DEFAULT 'ORDERED' NOT NULL,
	"planned_entry" numeric NOT NULL,
	"planned_stop" numeric NOT NULL,
	"planned_target" numeric,
	"planned_quantity" numeric NOT NULL,
	"planned_risk" numeric NOT NULL,
	"quantity" numeric DEFAULT 0 NOT NULL,
	"cost_basis" numeric DEFAULT 0 NOT NULL,
	"entry_quantity" numeric DEFAULT 0 NOT NULL,
	"entry_notional" numeric DEFAULT 0 NOT NULL,
	"entry_price" numeric,
	"exit_quantity" numeric DEFAULT 0 NOT NULL,
	"exit_notional" numeric DEFAULT 0 NOT NULL,
	"exit_price" numeric,
	"exit_reason" "exit_reason",
	"realized_pnl" numeric DEFAULT 0 NOT NULL,
	"r_multiple" numeric,
	"commissions" numeric DEFAULT 0 NOT NULL,
	"opened_at" timestamp with time zone,
	"closed_at" timestamp with time zone,
	"last_event_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "trades_decision_id_unique" UNIQUE("decision_id"),
	CONSTRAINT "trades_closed_has_reason" CHECK ("trades"."status" <> 'CLOSED' or ("trades"."exit_reason" is not null and "trades"."closed_at" is not null))
);
--> statement-breakpoint
CREATE TABLE "users" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "users_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"telegram_user_id" bigint NOT NULL,
	"display_name" text,
	"role" "user_role" NOT NULL,
	"display_time_zone" text DEFAULT 'America/New_York' NOT NULL,
	"notification_settings" jsonb DEFAULT '{"fills":true,"orderUpdates":true,"alerts":true,"dailySummary":true}'::jsonb NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "users_telegram_user_id_unique" UNIQUE("telegram_user_id")
);
--> statement-breakpoint
ALTER TABLE "broker_accounts" ADD CONSTRAINT "broker_accounts_owner_user_id_users_id_fk" FOREIGN KEY ("owner_user_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "risk_limits" ADD CONSTRAINT "risk_limits_account_id_broker_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."broker_accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "alert_messages" ADD CONSTRAINT "alert_messages_alert_id_alerts_id_fk" FOREIGN KEY ("alert_id") REFERENCES "public"."alerts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "alerts" ADD CONSTRAINT "alerts_account_id_broker_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."broker_accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "decisions" ADD CONSTRAINT "decisions_account_id_broker_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."broker_accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "decisions" ADD CONSTRAINT "decisions_alert_id_alerts_id_fk" FOREIGN KEY ("alert_id") REFERENCES "public"."alerts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "decisions" ADD CONSTRAINT "decisions_decided_by_user_id_users_id_fk" FOREIGN KEY ("decided_by_user_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "equity_snapshots" ADD CONSTRAINT "equity_snapshots_account_id_broker_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."broker_accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "fills" ADD CONSTRAINT "fills_order_id_orders_id_fk" FOREIGN KEY ("order_id") REFERENCES "public"."orders"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "fills" ADD CONSTRAINT "fills_account_id_broker_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."broker_accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "orders" ADD CONSTRAINT "orders_account_id_broker_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."broker_accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "orders" ADD CONSTRAINT "orders_trade_id_trades_id_fk" FOREIGN KEY ("trade_id") REFERENCES "public"."trades"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "orders" ADD CONSTRAINT "orders_parent_order_id_orders_id_fk" FOREIGN KEY ("parent_order_id") REFERENCES "public"."orders"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "orders" ADD CONSTRAINT "orders_protects_fill_id_fills_id_fk" FOREIGN KEY ("protects_fill_id") REFERENCES "public"."fills"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "orders" ADD CONSTRAINT "orders_replaces_order_id_orders_id_fk" FOREIGN KEY ("replaces_order_id") REFERENCES "public"."orders"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "positions" ADD CONSTRAINT "positions_account_id_broker_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."broker_accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "positions" ADD CONSTRAINT "positions_trade_id_trades_id_fk" FOREIGN KEY ("trade_id") REFERENCES "public"."trades"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "trades" ADD CONSTRAINT "trades_account_id_broker_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."broker_accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "trades" ADD CONSTRAINT "trades_decision_id_decisions_id_fk" FOREIGN KEY ("decision_id") REFERENCES "public"."decisions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "alerts_status_idx" ON "alerts" USING btree ("status","expires_at");--> statement-breakpoint
CREATE INDEX "decisions_status_idx" ON "decisions" USING btree ("status","scheduled_for");--> statement-breakpoint
CREATE INDEX "decisions_alert_idx" ON "decisions" USING btree ("alert_id");--> statement-breakpoint
CREATE INDEX "execution_log_entity_idx" ON "execution_log" USING btree ("entity","entity_id","id");--> statement-breakpoint
CREATE INDEX "execution_log_trade_idx" ON "execution_log" USING btree ("trade_id","id");--> statement-breakpoint
CREATE INDEX "execution_log_order_idx" ON "execution_log" USING btree ("order_id","id");--> statement-breakpoint
CREATE INDEX "execution_log_decision_idx" ON "execution_log" USING btree ("decision_id","id");--> statement-breakpoint
CREATE INDEX "execution_log_account_time_idx" ON "execution_log" USING btree ("account_id","occurred_at");--> statement-breakpoint
CREATE INDEX "notification_outbox_due_idx" ON "notification_outbox" USING btree ("status","next_attempt_at");--> statement-breakpoint
CREATE INDEX "fills_order_idx" ON "fills" USING btree ("order_id");--> statement-breakpoint
CREATE INDEX "fills_account_time_idx" ON "fills" USING btree ("account_id","filled_at");--> statement-breakpoint
CREATE INDEX "orders_account_status_idx" ON "orders" USING btree ("account_id","status");--> statement-breakpoint
CREATE INDEX "orders_trade_idx" ON "orders" USING btree ("trade_id");--> statement-breakpoint
CREATE INDEX "orders_parent_idx" ON "orders" USING btree ("parent_order_id");--> statement-breakpoint
CREATE INDEX "trades_account_status_idx" ON "trades" USING btree ("account_id","status");--> statement-breakpoint
CREATE INDEX "trades_symbol_idx" ON "trades" USING btree ("account_id","symbol");