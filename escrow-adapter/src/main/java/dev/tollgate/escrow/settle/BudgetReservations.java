package dev.tollgate.escrow.settle;

import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.UsageRecord;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What each admitted stream-budget request reserved, from its admission until its usage record is journaled (then
 * taken once). A request whose client left before its admission finished is journaled with no reservation yet: it
 * is remembered, so that a reservation its admission makes afterwards is returned at once instead of being held
 * forever.
 *
 * <p>Threading: thread-safe (admission on event loops and the ledger executor, the metering thread reading a
 * reservation as it logs a record, the journal's writer taking it).
 */
final class BudgetReservations {
    private final Map<String, StreamBudgetPolicy.Reservation> byRequest = new ConcurrentHashMap<>();
    private final Set<String> endedBeforeAdmission = ConcurrentHashMap.newKeySet();

    /**
     * Records {@code est} just reserved from {@code live} for a request; false (and the amount given back to
     * {@code live}) when the request already ended.
     */
    boolean keep(String requestId, OpenBudgets.Live live, long est) {
        if (endedBeforeAdmission.remove(requestId)) {
            live.reserved.addAndGet(-est);
            return false;
        }
        byRequest.put(requestId, new StreamBudgetPolicy.Reservation(live.escrowId, est));
        if (endedBeforeAdmission.remove(requestId)) {
            // Its record was journaled between the check and the put: take the reservation back.
            StreamBudgetPolicy.Reservation r = byRequest.remove(requestId);
            if (r != null) {
                live.reserved.addAndGet(-r.amount());
            }
        }
        return true;
    }

    /**
     * The reservation an admitted request made, taken (once) when its usage is journaled; null if none. A record of
     * a client that left before any upstream call, with no reservation yet, is remembered.
     */
    StreamBudgetPolicy.Reservation take(UsageRecord r, boolean budgetAccount) {
        StreamBudgetPolicy.Reservation res = byRequest.remove(r.requestId());
        if (res == null && budgetAccount && r.upstreamNanos() < 0 && r.outcome() == Outcome.CLIENT_DISCONNECTED) {
            endedBeforeAdmission.add(r.requestId());
            res = byRequest.remove(r.requestId());
            if (res != null) {
                endedBeforeAdmission.remove(r.requestId());
            }
        }
        return res;
    }

    /** The reservation a request was admitted against, still held, or null. */
    StreamBudgetPolicy.Reservation of(String requestId) {
        return byRequest.get(requestId);
    }

    /** Holds a reservation again: read back from the usage log at start-up, or taken by a rolled-back commit. */
    void put(String requestId, StreamBudgetPolicy.Reservation res) {
        byRequest.put(requestId, res);
    }
}
