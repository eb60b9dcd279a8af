package dev.tollgate.escrow.settle;

/** How an account pays for its requests. */
public enum PolicyKind {
    /** Nothing is settled (metering only). */
    NONE,
    /** One escrow per request: lock the worst case before forwarding, release the actual cost, refund the rest. */
    PER_REQUEST,
    /** One escrow per payer x worker with a budget; releases are batched; the next escrow opens when it runs low. */
    STREAM_BUDGET
}
