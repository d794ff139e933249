-- The orders an order report is matched against, read once the symbol's lock is granted, in one
-- call: the lock, then the read. A volatile function's statements each take a fresh snapshot, so
-- the read sees what the lock's previous holder committed. (A read sent behind a lock statement
-- on the same connection is not enough: a client that must first describe the lock statement
-- sends the read ahead of it.) The rows: the order (by broker order id, else client order id),
-- the legs stored under it, the other orders of its trade, and any order a reported leg names.
CREATE FUNCTION report_orders_after_lock(
  p_lock_name text,
  p_broker_order_id text,
  p_client_order_id text,
  p_leg_broker_order_ids jsonb,
  p_leg_client_order_ids jsonb
) RETURNS SETOF orders
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended(p_lock_name, 0));
  RETURN QUERY
    WITH o AS (
      SELECT r.id, r.trade_id FROM orders r
      WHERE r.broker_order_id = p_broker_order_id
        OR (r.client_order_id = p_client_order_id AND p_client_order_id <> '')
    )
    SELECT x.* FROM orders x
    WHERE x.id IN (SELECT o.id FROM o)
      OR x.parent_order_id IN (SELECT o.id FROM o)
      OR x.trade_id IN (SELECT o.trade_id FROM o)
      OR x.broker_order_id IN (SELECT jsonb_array_elements_text(p_leg_broker_order_ids))
      OR x.client_order_id IN (SELECT jsonb_array_elements_text(p_leg_client_order_ids))
    ORDER BY x.id;
END
$$;
