package dev.tollgate.escrow.purpleflea;

/**
 * The Purple Flea service's fees in micro-USDC: a commission of 1% of each escrow, rounded half-up to 6 decimals,
 * taken from what the worker receives; 15% of the commission (rounded half-up) goes to the payer's referrer, if
 * it has one. Stateless.
 */
public final class PurpleFleaFees {
    private PurpleFleaFees() {
    }

    /** 1% of {@code amountMicros}, rounded half-up to the micro. */
    public static long commission(long amountMicros) {
        return (amountMicros + 50) / 100;
    }

    /** 15% of a commission, rounded half-up to the micro. */
    public static long referral(long commissionMicros) {
        return (commissionMicros * 15 + 50) / 100;
    }
}
