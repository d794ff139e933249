ALTER TABLE "decisions" ADD COLUMN "idempotency_key" text;--> statement-breakpoint
ALTER TABLE "decisions" ADD COLUMN "request_hash" text;--> statement-breakpoint
ALTER TABLE "decisions" ADD COLUMN "submit_answer" jsonb;--> statement-breakpoint
CREATE UNIQUE INDEX "decisions_account_idempotency_key" ON "decisions" USING btree ("account_id","idempotency_key") WHERE "decisions"."idempotency_key" is not null;