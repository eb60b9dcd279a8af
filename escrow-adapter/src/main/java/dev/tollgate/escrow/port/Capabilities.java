package dev.tollgate.escrow.port;

/**
 * What a backend can do; the settlement engine adapts to it.
 *
 * @param partialRelease   several releases per escrow (else each escrow is released whole, once)
 * @param refund           an explicit refund of the remainder (else the remainder returns on expiry)
 * @param idempotencyKeys  an operation retried with the same id has one effect
 * @param minimumLockMicros smallest amount an escrow may hold
 * @param expiryRefunds    on expiry the remainder goes back to the payer (else it is released to the payee)
 */
public record Capabilities(boolean partialRelease, boolean refund, boolean idempotencyKeys, long minimumLockMicros,
                           boolean expiryRefunds) {
}
