package dev.tollgate.escrow.ledger;

import dev.tollgate.escrow.db.Database;
import java.util.HashMap;
import java.util.Map;

/**
 * Keeps memory's available funds ({@link AvailableFunds}) in step with the ledger's transactions: the durable
 * balances a transaction wrote and the reservations it consumed are published when it commits; reservations it
 * made are given back when it rolls back.
 *
 * <p>Threading: called under the database's transaction lock only.
 */
final class TransactionFunds {
    private final Database db;
    private final AvailableFunds funds;
    // Per transaction: new durable balances seen, reservations applied or given back.
    private final Map<String, Long> durableSeen = new HashMap<>();
    private final Map<String, Long> reservationsDone = new HashMap<>();
    private final Map<String, Long> reservedInTx = new HashMap<>();
    private boolean hooked;

    TransactionFunds(Database db, AvailableFunds funds) {
        this.db = db;
        this.funds = funds;
    }

    void observed(String account, long balance) {
        durableSeen.put(account, balance);
        hook();
    }

    void reservationDone(String account, long amount) {
        reservationsDone.merge(account, amount, Long::sum);
        hook();
    }

    private void hook() {
        if (!hooked) {
            hooked = true;
            db.whenDone(this::publish, this::rolledBack);
        }
    }

    private void publish() {
        for (Map.Entry<String, Long> e : durableSeen.entrySet()) {
            Long done = reservationsDone.remove(e.getKey());
            funds.committed(e.getKey(), e.getValue(), done == null ? 0 : done);
        }
        for (Map.Entry<String, Long> e : reservationsDone.entrySet()) {
            funds.committed(e.getKey(), -1, e.getValue());
        }
        forget();
    }

    /** Reserves inside a transaction: a rollback gives the reservation back. */
    boolean reserve(String account, long amount) {
        if (!funds.reserve(account, amount)) {
            return false;
        }
        reservedInTx.merge(account, amount, Long::sum);
        hook();
        return true;
    }

    void unreserve(String account, long amount) {
        funds.unreserve(account, amount);
        reservedInTx.merge(account, -amount, Long::sum);
    }

    private void rolledBack() {
        for (Map.Entry<String, Long> e : reservedInTx.entrySet()) {
            funds.unreserve(e.getKey(), e.getValue());
        }
        forget();
    }

    private void forget() {
        reservedInTx.clear();
        durableSeen.clear();
        reservationsDone.clear();
        hooked = false;
    }
}
