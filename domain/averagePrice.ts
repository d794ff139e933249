import { Decimal, type Decimal as DecimalValue } from "./money";

/** Decimal places an average of fills is shown and served to. */
export const AVERAGE_PRICE_DECIMALS = 4;

/**
 * An average of fills (cost / quantity, which need not terminate: 28,517.50 / 150 =
 * 190.11666...) rounded half up to four decimals, for people and API clients; an average that
 * already has four or fewer decimals is unchanged.
 */
export function roundAveragePrice(value: DecimalValue): DecimalValue {
  return value.toDecimalPlaces(AVERAGE_PRICE_DECIMALS, Decimal.ROUND_HALF_UP);
}
