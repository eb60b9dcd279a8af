package dev.tollgate.escrow.pricing;

/**
 * The escrow fee (basis points of each released amount) and the referrer's share of it (basis points of the
 * fee). Computed on cumulative amounts and rounded down once, like costs: the fee on a total is the same
 * whatever the batches it was released in.
 */
public record Fees(int feeBps, int referrerShareBps) {
    public static final Fees PURPLE_FLEA = new Fees(100, 1500);

    public Fees {
        if (feeBps < 0 || feeBps > 10_000 || referrerShareBps < 0 || referrerShareBps > 10_000) {
            throw new IllegalArgumentException("basis points out of range");
        }
    }

    /** Fee on a cumulative released amount. */
    public long feeOn(long cumulativeMicros) {
        return Math.multiplyExact(cumulativeMicros, (long) feeBps) / 10_000L;
    }

    /** Referrer's share of a cumulative fee. */
    public long referrerShareOf(long cumulativeFeeMicros) {
        return Math.multiplyExact(cumulativeFeeMicros, (long) referrerShareBps) / 10_000L;
    }
}
