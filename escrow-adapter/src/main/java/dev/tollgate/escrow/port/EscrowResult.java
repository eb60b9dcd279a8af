package dev.tollgate.escrow.port;

/** The outcome of one escrow operation. */
public sealed interface EscrowResult {
    /** Applied (now or by an earlier call with the same operation id). */
    record Done(String escrowId, EscrowState state) implements EscrowResult {
    }

    /** Refused for good (e.g. {@code insufficient_balance}); retrying will not help. */
    record Rejected(String code, String message) implements EscrowResult {
    }

    /** Not applied, safe to retry later (e.g. rate limited, connection refused before sending). */
    record Retryable(String message) implements EscrowResult {
    }

    /** Sent, but the answer was lost (timeout, 5xx after sending): read the remote before any retry. */
    record Ambiguous(String message) implements EscrowResult {
    }
}
