-- The rows an order event is applied to, read in one call: the order, the account's position in
-- its symbol and the order's trade, each with its row version (xmin). Rows come as JSON objects
-- keyed by column name with every number as a string, so decimals keep every digit. One jsonb
-- value is cheap to describe and send, and plpgsql keeps the plans of its statements for the
-- session, so the embedded database (which cannot keep prepared statements) does not parse and
-- plan the three-table read per event. `key_kind` is orderId, clientOrderId or brokerOrderId.
CREATE OR REPLACE FUNCTION order_snapshot(key_kind text, order_key text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  order_id bigint;
BEGIN
  IF key_kind = 'orderId' THEN
    order_id := order_key::bigint;
  ELSIF key_kind = 'clientOrderId' THEN
    SELECT id INTO order_id FROM orders WHERE client_order_id = order_key;
  ELSIF key_kind = 'brokerOrderId' THEN
    SELECT id INTO order_id FROM orders WHERE broker_order_id = order_key;
  ELSE
    RAISE EXCEPTION 'unknown order key kind %', key_kind;
  END IF;
  RETURN (
    SELECT jsonb_build_object(
      'order', (SELECT jsonb_object_agg(key, CASE WHEN jsonb_typeof(value) = 'number' THEN to_jsonb(value #>> '{}') ELSE value END) FROM jsonb_each(to_jsonb(o))),
      'order_version', o.xmin::text,
      'position', CASE WHEN p.id IS NULL THEN NULL ELSE (SELECT jsonb_object_agg(key, CASE WHEN jsonb_typeof(value) = 'number' THEN to_jsonb(value #>> '{}') ELSE value END) FROM jsonb_each(to_jsonb(p))) END,
      'position_version', p.xmin::text,
      'trade', CASE WHEN t.id IS NULL THEN NULL ELSE (SELECT jsonb_object_agg(key, CASE WHEN jsonb_typeof(value) = 'number' THEN to_jsonb(value #>> '{}') ELSE value END) FROM jsonb_each(to_jsonb(t))) END,
      'trade_version', t.xmin::text
    )
    FROM orders o
    LEFT JOIN positions p ON p.account_id = o.account_id AND p.symbol = o.symbol
    LEFT JOIN trades t ON t.id = o.trade_id
    WHERE o.id = order_id
  );
END;
$$;
