package dev.tollgate.escrow.pricing;

import java.math.BigDecimal;
import java.math.RoundingMode;

/**
 * USDC amounts as {@code long} micro-USDC (USDC has 6 decimals). Parsing is exact: an amount with more than
 * 6 decimals is an error, never silently rounded. Stateless.
 */
public final class Micros {
    public static final long ONE_USDC = 1_000_000L;

    private Micros() {
    }

    /** Parses a decimal USDC amount ("0.10", "12") to micro-USDC. */
    public static long parse(String usdc) {
        BigDecimal d = new BigDecimal(usdc.trim());
        if (d.signum() < 0) {
            throw new IllegalArgumentException("negative amount: " + usdc);
        }
        try {
            return d.movePointRight(6).setScale(0, RoundingMode.UNNECESSARY).longValueExact();
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("more than 6 decimals or too large: " + usdc);
        }
    }

    /** Formats micro-USDC as a decimal with 6 places ("0.100000"). */
    public static String format(long micros) {
        return BigDecimal.valueOf(micros, 6).toPlainString();
    }
}
