-- The execution log is the audit trail: rows are appended, never changed or removed.
CREATE OR REPLACE FUNCTION execution_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'execution_log is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER execution_log_no_update_delete
  BEFORE UPDATE OR DELETE ON execution_log
  FOR EACH ROW EXECUTE FUNCTION execution_log_refuse_change();
--> statement-breakpoint
CREATE TRIGGER execution_log_no_truncate
  BEFORE TRUNCATE ON execution_log
  FOR EACH STATEMENT EXECUTE FUNCTION execution_log_refuse_change();
