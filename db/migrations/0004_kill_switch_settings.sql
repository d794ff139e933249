CREATE TABLE "kill_switch_settings" (
	"account_id" bigint PRIMARY KEY NOT NULL,
	"flatten_on_halt" boolean DEFAULT false NOT NULL,
	"max_drawdown_percent" numeric,
	"drawdown_days" integer DEFAULT 5 NOT NULL,
	"loss_streak_count" integer,
	"loss_streak_window_minutes" integer DEFAULT 60 NOT NULL,
	"loss_streak_pause_minutes" integer DEFAULT 30 NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "kill_switch_settings" ADD CONSTRAINT "kill_switch_settings_account_id_broker_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."broker_accounts"("id") ON DELETE no action ON UPDATE no action;