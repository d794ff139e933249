-- report_after_lock (0010) matched the reported legs with `IN (SELECT ...)` inside an OR: a hashed
-- subplan that no index serves, so the whole OR became a scan of every order the desk ever
-- recorded, on every order report, under the symbol's lock. `= ANY (ARRAY(...))` is indexable:
-- each condition of the OR is an index scan (a BitmapOr), whatever the size of the history.
-- Same rows, same answer.
CREATE OR REPLACE FUNCTION report_after_lock(
  p_lock_name text,
  p_broker_order_id text,
  p_client_order_id text,
  p_leg_broker_order_ids jsonb,
  p_leg_client_order_ids jsonb
) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  hit orders;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended(p_lock_name, 0));
  SELECT * INTO hit FROM orders r WHERE r.broker_order_id = p_broker_order_id;
  IF NOT FOUND AND p_client_order_id <> '' THEN
    SELECT * INTO hit FROM orders r WHERE r.client_order_id = p_client_order_id;
  END IF;
  RETURN json_build_array(
    coalesce((
      SELECT json_agg(json_build_array(row_to_json(x), x.xmin::text) ORDER BY x.id)
      FROM orders x
      WHERE x.id = hit.id
        OR x.parent_order_id = hit.id
        OR x.trade_id = hit.trade_id
        OR x.broker_order_id = ANY (ARRAY(SELECT jsonb_array_elements_text(p_leg_broker_order_ids)))
        OR x.client_order_id = ANY (ARRAY(SELECT jsonb_array_elements_text(p_leg_client_order_ids)))
    ), '[]'::json),
    (SELECT json_build_array(row_to_json(p), p.xmin::text) FROM positions p
      WHERE p.account_id = hit.account_id AND p.symbol = hit.symbol),
    (SELECT json_build_array(row_to_json(t), t.xmin::text) FROM trades t
      WHERE t.id = hit.trade_id)
  )::text;
END
$$;
