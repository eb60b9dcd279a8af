package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.ledger.AvailableFunds;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.HashSet;
import java.util.Set;

/**
 * What an admitted ledger intent becomes when the journal cannot write it even alone (a database error, such as a
 * constraint the intent breaks): its refusal, written in a transaction of its own, so that the request admitted
 * against it is still paid. A per-request lock becomes an unlocked request, paid straight from the payer's balance
 * or owed; a stream budget's next escrow becomes a budget holding nothing, its requests paid from the balance when
 * it closes; a per-call charge becomes an owed payment. Each way the admission's reservation is given back in memory
 * ({@link #release}), whether or not the refusal could be written. A dev credit is forgotten, to be offered again on
 * the account's next request; a progress checkpoint needs nothing (the stream's record settles it). If even the
 * refusal cannot be written, the request's record is refused at the journal ({@link #checkRecorded}) and so
 * quarantined, kept for an operator, rather than settled against nothing.
 *
 * <p>Threading: the journal's writer only ({@link #write} inside its transaction).
 */
final class IntentRefusals {
    private final PerRequestPolicy perRequest;
    private final StreamBudgetPolicy streamBudget;
    private final PerCallPolicy perCall;
    private final AvailableFunds funds;
    private final Set<String> funded;
    private final Set<String> unrecorded = new HashSet<>();

    IntentRefusals(PerRequestPolicy perRequest, StreamBudgetPolicy streamBudget, PerCallPolicy perCall,
                   AvailableFunds funds, Set<String> funded) {
        this.perRequest = perRequest;
        this.streamBudget = streamBudget;
        this.perCall = perCall;
        this.funds = funds;
        this.funded = funded;
    }

    /** Writes the intent's refusal (the settlement or budget row the request will be paid by). */
    void write(Connection c, Object intent, long now) throws SQLException {
        if (intent instanceof LedgerIntents.Lock lock) {
            perRequest.refuseLock(lock);
        } else if (intent instanceof StreamBudgetPolicy.Open open) {
            streamBudget.refuseOpen(c, open, now);
        } else if (intent instanceof PerCallPolicy.Charge charge) {
            perCall.refuse(c, charge, now);
        }
    }

    /** The refusal of {@code intent} could not be written either: its request's record will be quarantined. */
    void unrecorded(Object intent) {
        if (intent instanceof LedgerIntents.Lock lock) {
            unrecorded.add(lock.requestId());
        } else if (intent instanceof PerCallPolicy.Charge charge) {
            unrecorded.add(charge.requestId());
        }
    }

    /** Fails a record whose request's intent was neither written nor refused (the journal then quarantines it). */
    void checkRecorded(String requestId) throws SQLException {
        if (!unrecorded.isEmpty() && unrecorded.contains(requestId)) {
            throw new SQLException("the ledger intent of request " + requestId + " was neither written nor refused");
        }
    }

    /** The record was quarantined: nothing more to check for it. */
    void quarantined(String requestId) {
        unrecorded.remove(requestId);
    }

    /** Gives back what admission reserved in memory for the intent: no hold or payment will ever consume it. */
    void release(Object intent) {
        if (intent instanceof LedgerIntents.Lock lock) {
            funds.unreserve(lock.account(), lock.amountMicros());
        } else if (intent instanceof StreamBudgetPolicy.Open open) {
            funds.unreserve(open.account(), open.amountMicros());
        } else if (intent instanceof PerCallPolicy.Charge charge) {
            funds.unreserve(charge.account(), charge.micros());
        } else if (intent instanceof LedgerIntents.Credit credit) {
            funds.expectCredit(credit.account(), -credit.micros());
            funded.remove(credit.account());
        }
    }
}
