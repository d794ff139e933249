-- Optimistic writes: a statement that writes rows only if they are still the version it read
-- counts what it wrote and calls this; a count other than the expected one aborts the whole
-- statement with a serialization failure (40001), and the caller retries on fresh rows.
CREATE OR REPLACE FUNCTION require_written(written bigint, expected bigint, what text) RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
  IF written IS DISTINCT FROM expected THEN
    RAISE EXCEPTION 'concurrent change of %: wrote % row(s), expected %', what, written, expected
      USING ERRCODE = 'serialization_failure';
  END IF;
  RETURN 1;
END;
$$;
