package dev.tollgate.escrow.port;

/**
 * A request to lock funds.
 *
 * @param escrowId      the id to give the escrow (embedded ledger) or a local reference (remote services
 *                      assign their own id, returned in {@link EscrowResult.Done#escrowId()})
 * @param payer         agent whose balance is debited
 * @param payee         agent who will receive releases
 * @param amountMicros  micro-USDC to lock
 * @param expiresAtMillis when the escrow expires (epoch milliseconds)
 * @param description   free text; remote backends carry the operation id in it
 */
public record LockRequest(String escrowId, String payer, String payee, long amountMicros, long expiresAtMillis,
                          String description) {
}
