package dev.tollgate.escrow.settle;

/**
 * Cost of work already served that no hold paid, charged straight to the payer's balance on the same path as cost
 * beyond a per-request hold: an {@code excess:} payment, retried while refused and putting the payer in arrears
 * (402 on its next per-request admissions) until it is paid. Used for RunPod jobs whose hold did not survive until
 * their end (a stream-budget reservation lost with a restart, a hold refunded at expiry).
 *
 * <p>Threading: as {@link SettlementService#payBonus}: blocks on the database, never on an event loop.
 */
public final class ExcessCharge {
    private ExcessCharge() {
    }

    /**
     * Queues the payment of {@code micros} from {@code payer} to {@code payee}, once per {@code key} (a repeated key
     * changes nothing), and wakes the settler.
     */
    public static void pay(SettlementService settlement, String key, String requestId, String payer, String payee,
                           long micros) {
        settlement.payBonus(Arrears.OP_PREFIX + key, requestId, payer, payee, micros);
    }
}
