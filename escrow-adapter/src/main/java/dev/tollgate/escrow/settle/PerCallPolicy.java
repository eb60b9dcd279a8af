package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.ledger.EmbeddedLedger;
import dev.tollgate.escrow.port.EscrowResult;
import dev.tollgate.escrow.pricing.Micros;
import java.sql.Connection;
import java.sql.SQLException;

/**
 * Pay per call: a flat price per request, whatever its tokens. Before forwarding, the price is reserved from the
 * payer's available funds in memory (a refusal is an immediate 402, nothing forwarded) and the payment to the
 * worker is queued for the journal's next group commit, which writes it (fee included, like any payment) before
 * the usage records of that commit, so before the response ends. The payment is for the call: an upstream error
 * does not return it (the pattern's trade-off: no escrow, lowest overhead). A payment the balance can no longer
 * cover at its commit is owed, retried and puts the payer in arrears (see {@link Arrears}).
 *
 * <p>Threading: {@link #admit} on any thread (an event loop), without touching the database; {@link #apply} on
 * the journal's writer inside its transaction.
 */
final class PerCallPolicy {
    static final String NAME = "per_call";

    /** A call's price, reserved in memory, to be paid in the next group commit. */
    record Charge(String requestId, String account, String worker, long micros) {
    }

    private final EmbeddedLedger ledger;
    private final LedgerIntents intents;
    private final Arrears arrears;

    PerCallPolicy(EmbeddedLedger ledger, LedgerIntents intents, Arrears arrears) {
        this.ledger = ledger;
        this.intents = intents;
        this.arrears = arrears;
    }

    Admission admit(String requestId, String account, String worker, AccountPolicy p) {
        String owed = arrears.owedBy(account);
        if (owed != null) {
            return Admission.paymentRequired("Account " + account + " owes " + owed + " USDC; top up the balance.");
        }
        long price = p.pattern().callPriceMicros();
        if (!ledger.funds().reserve(account, price)) {
            return Admission.paymentRequired("Insufficient balance: " + account + " cannot pay "
                    + Micros.format(price) + " USDC for this call.");
        }
        intents.offer(new Charge(requestId, account, worker, price));
        return Admission.granted(null);
    }

    /**
     * Pays an admitted call and records it as the request's settlement. When the payer's balance dropped since
     * admission (another writer of the ledger took it), the price stays owed: a {@code call:} payment operation,
     * tried in this same commit and then on the settler's timer, with the payer in arrears while it is refused;
     * the row says {@code owed} until it is paid.
     */
    void apply(Connection c, Charge ch, long now) throws SQLException {
        String opId = Arrears.CALL_PREFIX + ch.requestId();
        EscrowResult r = ledger.payReserved(c, opId, ch.account(), ch.worker(), ch.micros(), NAME);
        record(c, ch, r instanceof EscrowResult.Done, now);
    }

    /**
     * An admitted call whose charge the journal could not write even alone (a database error): its price stays
     * owed, paid by the settler as a refused charge is. The admission's reservation is given back by the caller,
     * in memory.
     */
    void refuse(Connection c, Charge ch, long now) throws SQLException {
        record(c, ch, false, now);
    }

    private static void record(Connection c, Charge ch, boolean paid, long now) throws SQLException {
        String opId = Arrears.CALL_PREFIX + ch.requestId();
        SettlementRows.insert(c, ch.requestId(), ch.account(), ch.worker(), NAME, null, paid ? "paid" : "owed", 0,
                now);
        SettlementRows.update(c, ch.requestId(), "cost = ?, released = ?", ch.micros(), paid ? ch.micros() : 0L);
        if (!paid) {
            SettleOps.insert(c, opId, ch.requestId(), opId, SettleOps.Kind.PAY, ch.micros(), ch.account(),
                    ch.worker(), now);
        }
    }
}
