package dev.tollgate.escrow.port;

/**
 * An escrow as its backend sees it. {@code lockedMicros >= releasedMicros + refundedMicros} always.
 *
 * @param escrowId       the backend's id
 * @param payer          payer agent
 * @param payee          payee agent
 * @param lockedMicros   amount locked
 * @param releasedMicros released to the payee in total (gross, fee included)
 * @param refundedMicros returned to the payer in total
 * @param status         {@code locked}, {@code closed}, {@code expired}, or a remote service's own word
 */
public record EscrowState(String escrowId, String payer, String payee, long lockedMicros, long releasedMicros,
                          long refundedMicros, String status) {

    public long remainingMicros() {
        return lockedMicros - releasedMicros - refundedMicros;
    }

    public boolean open() {
        return status.equals("locked");
    }
}
