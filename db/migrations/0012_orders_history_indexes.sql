CREATE INDEX "orders_account_created_idx" ON "orders" USING btree ("account_id","created_at");--> statement-breakpoint
CREATE INDEX "orders_account_symbol_idx" ON "orders" USING btree ("account_id","symbol");--> statement-breakpoint
CREATE INDEX "orders_working_idx" ON "orders" USING btree ("account_id") WHERE "orders"."status" not in ('filled', 'canceled', 'expired', 'replaced', 'rejected');