ALTER TABLE "users" ALTER COLUMN "notification_settings" SET DEFAULT '{}'::jsonb;--> statement-breakpoint
-- Rows of the older shape (booleans fills, orderUpdates, alerts, dailySummary) become per-category
-- deliveries: a switched-off flag turns its categories off, everything else keeps the default (on).
UPDATE "users" SET "notification_settings" = (
  SELECT coalesce(jsonb_object_agg(mapped.category, '"off"'::jsonb), '{}'::jsonb)
  FROM (
    SELECT 'fills' AS category WHERE "notification_settings" -> 'fills' = 'false'::jsonb
    UNION ALL SELECT 'submissions' WHERE "notification_settings" -> 'orderUpdates' = 'false'::jsonb
    UNION ALL SELECT 'protection' WHERE "notification_settings" -> 'orderUpdates' = 'false'::jsonb
    UNION ALL SELECT 'alerts' WHERE "notification_settings" -> 'alerts' = 'false'::jsonb
    UNION ALL SELECT 'dailySummary' WHERE "notification_settings" -> 'dailySummary' = 'false'::jsonb
  ) AS mapped
)
WHERE jsonb_typeof("notification_settings" -> 'fills') = 'boolean'
  OR jsonb_typeof("notification_settings" -> 'orderUpdates') = 'boolean'
  OR jsonb_typeof("notification_settings" -> 'alerts') = 'boolean'
  OR jsonb_typeof("notification_settings" -> 'dailySummary') = 'boolean';
