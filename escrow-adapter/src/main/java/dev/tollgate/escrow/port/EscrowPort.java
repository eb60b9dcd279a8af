package dev.tollgate.escrow.port;

/**
 * A place that holds funds for a payer until a payee has earned them: the embedded ledger, or a remote
 * escrow service. Transport-agnostic; every operation carries an operation id that the caller generated and
 * persisted before calling, so that a retry after a crash or a timeout can be recognised.
 *
 * <p>Releases name a cumulative target ("released in total: X"), never an increment, so that a retried release
 * converges instead of paying twice. A backend without idempotency keys ({@link Capabilities#idempotencyKeys()}
 * false) must be read ({@link #read}) before any retry of an {@link EscrowResult.Ambiguous} outcome.
 *
 * <p>Threading: implementations are thread-safe.
 */
public interface EscrowPort {
    Capabilities capabilities();

    /** Locks {@code amountMicros} of the payer's funds for the payee. */
    EscrowResult lock(String opId, LockRequest request);

    /** Releases to the payee until {@code cumulativeTargetMicros} have been released in total from this escrow. */
    EscrowResult releaseTo(String opId, String escrowId, long cumulativeTargetMicros);

    /** Returns everything not released to the payer and closes the escrow. */
    EscrowResult refundRemainder(String opId, String escrowId);

    /** Pays {@code amountMicros} straight from the payer's balance to the payee (bonuses), fee included. */
    EscrowResult pay(String opId, String payer, String payee, long amountMicros);

    /** Current state, or null when the escrow is unknown. */
    EscrowState read(String escrowId);
}
