ALTER TABLE "decisions" ADD COLUMN "plan_chat_id" bigint;--> statement-breakpoint
ALTER TABLE "decisions" ADD COLUMN "plan_message_id" bigint;