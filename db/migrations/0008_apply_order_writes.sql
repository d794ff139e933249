-- The write of an applied order event in one call: the fill, the position, the order, the trade
-- and the execution log rows, all given as one JSON value. plpgsql keeps the plans of these fixed
-- statements for the session, so the embedded database (which cannot keep prepared statements)
-- does not parse and plan a many-part statement per event. Each update writes every column of
-- its row from the given row laid over the current one (columns not given keep their values),
-- only while the row is still the version read; otherwise it aborts with a serialization failure
-- (require_written) and the caller applies the event again on fresh rows. A fill or position
-- inserted first by someone else aborts it with the unique violation, as before. Decimals come
-- as strings. Statements run in the order fill, position, order, trade, log.
--
-- w: { fill?: row, position?: { op: 'insert', row, except?, protective_roles, terminal }
--      | { op: 'update', id, version, row, drop? } | { op: 'delete', id, version }
--      | { op: 'protection', id, drop }, order: { id, version, row }, trade?: { id, version, row } }
-- logs: the execution log rows, as insertLogStatement reads them.
CREATE FUNCTION apply_order_writes(
  w jsonb,
  logs jsonb,
  OUT fill_id text,
  OUT position_id text,
  OUT protective_ids text,
  OUT o_version text,
  OUT p_version text,
  OUT t_version text
)
LANGUAGE plpgsql AS $$
DECLARE
  part jsonb;
  written bigint;
BEGIN
  part := w->'fill';
  IF part IS NOT NULL THEN
    INSERT INTO fills (order_id, account_id, execution_id, symbol, side, quantity, price, commission,
      cumulative_quantity, order_avg_price, source, filled_at, recorded_at)
    SELECT r.order_id, r.account_id, r.execution_id, r.symbol, r.side, r.quantity, r.price,
      r.commission, r.cumulative_quantity, r.order_avg_price, r.source, r.filled_at, r.recorded_at
    FROM jsonb_populate_record(null::fills, part) r
    RETURNING fills.id::text INTO fill_id;
  END IF;

  part := w->'position';
  IF part IS NOT NULL THEN
    IF part->>'op' = 'insert' THEN
      -- A new position is protected by the live stops and targets of its symbol. The order being
      -- applied is written after this, so `except` leaves it out when this event ends it.
      INSERT INTO positions AS np (account_id, trade_id, symbol, quantity, cost_basis, average_cost,
        realized_pnl, commissions, mark_price, market_value, unrealized_pnl, protective_order_ids,
        opened_at, marked_at, updated_at)
      SELECT r.account_id, r.trade_id, r.symbol, r.quantity, r.cost_basis, r.average_cost,
        r.realized_pnl, r.commissions, r.mark_price, r.market_value, r.unrealized_pnl,
        coalesce((
          SELECT array_agg(lo.id ORDER BY lo.id) FROM orders lo
          WHERE lo.account_id = r.account_id AND lo.symbol = r.symbol
            AND lo.role::text IN (SELECT jsonb_array_elements_text(part->'protective_roles'))
            AND lo.status::text NOT IN (SELECT jsonb_array_elements_text(part->'terminal'))
            AND lo.id IS DISTINCT FROM (part->>'except')::bigint
        ), '{}'::bigint[]),
        r.opened_at, r.marked_at, r.updated_at
      FROM jsonb_populate_record(null::positions, part->'row') r
      RETURNING np.id::text, array_to_json(np.protective_order_ids)::text, np.xmin::text
      INTO position_id, protective_ids, p_version;
    ELSIF part->>'op' = 'update' THEN
      UPDATE positions up SET (account_id, trade_id, symbol, quantity, cost_basis, average_cost,
        realized_pnl, commissions, mark_price, market_value, unrealized_pnl, protective_order_ids,
        opened_at, marked_at, updated_at) = (
        SELECT r.account_id, r.trade_id, r.symbol, r.quantity, r.cost_basis, r.average_cost,
          r.realized_pnl, r.commissions, r.mark_price, r.market_value, r.unrealized_pnl,
          CASE WHEN part ? 'drop'
            THEN array_remove(up.protective_order_ids, (part->>'drop')::bigint)
            ELSE up.protective_order_ids END,
          r.opened_at, r.marked_at, r.updated_at
        FROM jsonb_populate_record(up, part->'row') r)
      WHERE up.id = (part->>'id')::bigint AND up.xmin::text = part->>'version'
      RETURNING up.id::text, array_to_json(up.protective_order_ids)::text, up.xmin::text
      INTO position_id, protective_ids, p_version;
      GET DIAGNOSTICS written = ROW_COUNT;
      IF written <> 1 THEN PERFORM require_written(written, 1, 'position'); END IF;
    ELSIF part->>'op' = 'delete' THEN
      DELETE FROM positions dp
      WHERE dp.id = (part->>'id')::bigint AND dp.xmin::text = part->>'version'
      RETURNING dp.id::text, array_to_json(dp.protective_order_ids)::text, dp.xmin::text
      INTO position_id, protective_ids, p_version;
      GET DIAGNOSTICS written = ROW_COUNT;
      IF written <> 1 THEN PERFORM require_written(written, 1, 'position'); END IF;
    ELSIF part->>'op' = 'protection' THEN
      -- An ended stop or target leaves the position's protection, whatever its version.
      UPDATE positions pp
      SET protective_order_ids = array_remove(pp.protective_order_ids, (part->>'drop')::bigint)
      WHERE pp.id = (part->>'id')::bigint
      RETURNING pp.id::text, array_to_json(pp.protective_order_ids)::text, pp.xmin::text
      INTO position_id, protective_ids, p_version;
    ELSE
      RAISE EXCEPTION 'unknown position write %', part->>'op';
    END IF;
  END IF;

  part := w->'order';
  UPDATE orders uo SET (account_id, trade_id, parent_order_id, protects_fill_id, replaces_order_id,
    client_order_id, broker_order_id, symbol, role, exit_reason, order_class, type, side,
    time_in_force, extended_hours, quantity, filled_quantity, filled_notional, filled_avg_price,
    limit_price, stop_price, trail_percent, status, status_before_pending, applied_execution_ids,
    replaced_by_broker_order_id, rejection_source, rejection_reason, expected_price,
    estimated_slippage, actual_slippage, commission, submitted_at, accepted_at, filled_at,
    canceled_at, expired_at, rejected_at, last_event_at, created_at, updated_at) = (
    SELECT r.account_id, r.trade_id, r.parent_order_id, r.protects_fill_id, r.replaces_order_id,
      r.client_order_id, r.broker_order_id, r.symbol, r.role, r.exit_reason, r.order_class, r.type,
      r.side, r.time_in_force, r.extended_hours, r.quantity, r.filled_quantity, r.filled_notional,
      r.filled_avg_price, r.limit_price, r.stop_price, r.trail_percent, r.status,
      r.status_before_pending, r.applied_execution_ids, r.replaced_by_broker_order_id,
      r.rejection_source, r.rejection_reason, r.expected_price, r.estimated_slippage,
      r.actual_slippage, r.commission, r.submitted_at, r.accepted_at, r.filled_at, r.canceled_at,
      r.expired_at, r.rejected_at, r.last_event_at, r.created_at, r.updated_at
    FROM jsonb_populate_record(uo, part->'row') r)
  WHERE uo.id = (part->>'id')::bigint AND uo.xmin::text = part->>'version'
  RETURNING uo.xmin::text INTO o_version;
  GET DIAGNOSTICS written = ROW_COUNT;
  IF written <> 1 THEN PERFORM require_written(written, 1, 'order'); END IF;

  part := w->'trade';
  IF part IS NOT NULL THEN
    UPDATE trades ut SET (account_id, decision_id, symbol, side, status, planned_entry,
      planned_stop, planned_target, planned_quantity, planned_risk, quantity, cost_basis,
      entry_quantity, entry_notional, entry_price, exit_quantity, exit_notional, exit_price,
      exit_reason, realized_pnl, r_multiple, commissions, opened_at, closed_at, last_event_at,
      created_at, updated_at) = (
      SELECT r.account_id, r.decision_id, r.symbol, r.side, r.status, r.planned_entry,
        r.planned_stop, r.planned_target, r.planned_quantity, r.planned_risk, r.quantity,
        r.cost_basis, r.entry_quantity, r.entry_notional, r.entry_price, r.exit_quantity,
        r.exit_notional, r.exit_price, r.exit_reason, r.realized_pnl, r.r_multiple, r.commissions,
        r.opened_at, r.closed_at, r.last_event_at, r.created_at, r.updated_at
      FROM jsonb_populate_record(ut, part->'row') r)
    WHERE ut.id = (part->>'id')::bigint AND ut.xmin::text = part->>'version'
    RETURNING ut.xmin::text INTO t_version;
    GET DIAGNOSTICS written = ROW_COUNT;
    IF written <> 1 THEN PERFORM require_written(written, 1, 'trade'); END IF;
  END IF;

  INSERT INTO execution_log (entity, entity_id, event, status_before, status_after, details, source,
    account_id, decision_id, trade_id, order_id, occurred_at)
  SELECT e.entity, e.entity_id, e.event, e.status_before, e.status_after, e.details, e.source,
    e.account_id, e.decision_id, e.trade_id, e.order_id, e.occurred_at
  FROM jsonb_to_recordset(logs) AS e(entity log_entity, entity_id text, event text,
    status_before text, status_after text, details jsonb, source text, account_id bigint,
    decision_id bigint, trade_id bigint, order_id bigint, occurred_at timestamptz);
END;
$$;
