package dev.tollgate.escrow.settle;

/** How an account pays for its requests. */
public enum PolicyKind {
    /** Nothing is settled (metering only). */
    NONE,
    /** One escrow per request: lock the worst case before forwarding, release the actual cost, refund the rest. */
    PER_REQUEST,
    /** One escrow per payer x worker with a budget; releases are batched; the next escrow opens when it runs low. */
    STREAM_BUDGET,
    /** A flat price per request, paid from the balance (reserved in memory) before forwarding. */
    PER_CALL,
    /** A period escrow, auto-released at the period's end, covering the period's requests up to a quota. */
    SUBSCRIPTION,
    /** A base quota at a flat price per period, then a price per request from a pre-funded overage escrow. */
    HYBRID,
    /** A project escrow with named tranches released by API call, not by traffic. */
    MILESTONE;

    /** Whether requests of this kind are priced by model and tokens (and so need {@code settlement.prices}). */
    public boolean pricedByModel() {
        return this == PER_REQUEST || this == STREAM_BUDGET;
    }

    /** Whether this kind is one of the {@link BillingPattern} kinds. */
    public boolean pattern() {
        return this == PER_CALL || this == SUBSCRIPTION || this == HYBRID || this == MILESTONE;
    }
}
