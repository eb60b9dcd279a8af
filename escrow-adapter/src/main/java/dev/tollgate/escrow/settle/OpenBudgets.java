package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.ledger.EmbeddedLedger;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.metering.UsageRecord;
import java.time.Clock;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The stream budgets' escrows as admission sees them, in memory: per payer x worker the escrow taking reservations,
 * per escrow what its requests reserved and what its budget has cost, and each admitted request's reservation until
 * its usage is journaled. Admission reserves from here and, when a budget cannot cover a request, opens the next
 * escrow here (its amount reserved from the payer's available funds, its {@link StreamBudgetPolicy.Open} queued for
 * the journal). The journal's writer ({@link StreamBudgetPolicy}) keeps it in step with the budget rows it commits.
 *
 * <p>Threading: thread-safe. {@link #admit} on any thread (event loops), never blocking; the rest from the journal's
 * writer and start-up.
 */
final class OpenBudgets {
    // A drained escrow's reservation counter once it closed: no reservation can be made against it any more.
    private static final long CLOSED = Long.MIN_VALUE / 2;

    /** An escrow taking reservations (or draining its last ones). */
    static final class Live {
        final String escrowId;
        final long locked;
        final AtomicLong costMicros;
        final AtomicLong reserved = new AtomicLong();
        final long rollOverAtMillis;

        Live(String escrowId, long locked, long costMicros, long rollOverAtMillis) {
            this.escrowId = escrowId;
            this.locked = locked;
            this.costMicros = new AtomicLong(costMicros);
            this.rollOverAtMillis = rollOverAtMillis;
        }
    }

    private final SettlementConfig cfg;
    private final EmbeddedLedger ledger;
    private final LedgerIntents intents;
    private final Clock clock;
    private final Runnable journalWake;
    private final Map<String, Live> openByPair = new ConcurrentHashMap<>();
    private final Map<String, Live> liveByEscrow = new ConcurrentHashMap<>();
    private final BudgetReservations reservations = new BudgetReservations();

    OpenBudgets(SettlementConfig cfg, EmbeddedLedger ledger, LedgerIntents intents, Clock clock,
                Runnable journalWake) {
        this.cfg = cfg;
        this.ledger = ledger;
        this.intents = intents;
        this.clock = clock;
        this.journalWake = journalWake;
    }

    private static String pair(String payer, String worker) {
        return payer + "\u0000" + worker;
    }

    /** A reservation from the open escrow, or the next escrow opened (or 402). */
    Admission admit(String requestId, String account, String worker, long est, AccountPolicy p) {
        Admission fast = tryReserve(requestId, account, worker, est, clock.millis());
        return fast != null ? fast : openNext(requestId, account, worker, est, p, clock.millis());
    }

    /**
     * The fast path: reserve from the open escrow when it can cover the request. Reservations are not journaled
     * apart from their usage record: a request that dies with the process leaves no usage to settle, and its
     * reservation dies with it.
     */
    private Admission tryReserve(String requestId, String account, String worker, long est, long now) {
        Live live = openByPair.get(pair(account, worker));
        if (live == null || now >= live.rollOverAtMillis) {
            return null;
        }
        while (true) {
            long cur = live.reserved.get();
            if (cur < 0 || live.locked - live.costMicros.get() - cur < est) {
                return null;
            }
            if (live.reserved.compareAndSet(cur, cur + est)) {
                return keep(requestId, live, est);
            }
        }
    }

    /**
     * When a budget stops taking reservations: a tenth of its lifetime before its escrow expires (at least a
     * minute before), so that no request is admitted against an escrow whose releases would be refused.
     */
    private long rollOverAt(long expiresAt) {
        long margin = Math.max(60_000L, cfg.autoReleaseMillis() / 10);
        return expiresAt - margin;
    }

    /** At start-up: an open budget read from the database takes reservations (the most recent one per pair). */
    void mirror(String escrowId, String payer, String worker, long locked, long costMicros, long expiresAt) {
        Live live = new Live(escrowId, locked, costMicros, rollOverAt(expiresAt));
        liveByEscrow.put(escrowId, live);
        openByPair.put(pair(payer, worker), live);
    }

    /**
     * The budget cannot cover the request (or its escrow rolls over), so the next escrow opens, its amount reserved
     * from the payer's available funds and its lock queued for the journal; or 402.
     */
    private synchronized Admission openNext(String requestId, String account, String worker, long est,
                                            AccountPolicy p, long now) {
        Admission again = tryReserve(requestId, account, worker, est, now);
        if (again != null) {
            return again; // Another request opened the next escrow meanwhile.
        }
        Live current = openByPair.get(pair(account, worker));
        boolean expiring = current != null && now >= current.rollOverAtMillis;
        if (current != null && !p.openNextEscrow() && !expiring) {
            return Admission.paymentRequired("The stream budget of " + account + " for " + worker
                    + " cannot cover this request (" + Micros.format(current.locked - current.costMicros.get()
                    - Math.max(0, current.reserved.get())) + " USDC left).");
        }
        long amount = Math.max(Math.max(p.budgetMicros(), est), cfg.minLockMicros());
        if (!ledger.funds().reserve(account, amount)) {
            return Admission.paymentRequired("Insufficient balance: " + account + " cannot lock a stream budget of "
                    + Micros.format(amount) + " USDC.");
        }
        String escrowId = "bud-" + UUID.randomUUID();
        long expiresAt = now + cfg.autoReleaseMillis();
        Live live = new Live(escrowId, amount, 0, rollOverAt(expiresAt));
        live.reserved.set(est);
        liveByEscrow.put(escrowId, live);
        // Queued before other requests can see the escrow: the journal then always finds it locked when their
        // records arrive (a record drains the intents queued before it).
        intents.offer(new StreamBudgetPolicy.Open(escrowId, account, worker, amount, expiresAt,
                current == null ? null : current.escrowId));
        openByPair.put(pair(account, worker), live);
        journalWake.run();
        return keep(requestId, live, est);
    }

    /** Records a reservation just made, unless its request already ended (then it is returned at once). */
    private Admission keep(String requestId, Live live, long est) {
        return reservations.keep(requestId, live, est) ? Admission.granted(live.escrowId)
                : Admission.paymentRequired("The request ended before its admission did.");
    }

    /** The reservation an admitted request made, taken (once) when its usage is journaled; null if none. */
    StreamBudgetPolicy.Reservation take(UsageRecord r, boolean budgetAccount) {
        return reservations.take(r, budgetAccount);
    }

    /** The reservation a request was admitted against, still in memory (read as its record is logged), or null. */
    StreamBudgetPolicy.Reservation reservationOf(String requestId) {
        return reservations.of(requestId);
    }

    /** A reservation given back to its request (start-up replay, a rolled-back commit). */
    void restore(String requestId, StreamBudgetPolicy.Reservation res) {
        reservations.put(requestId, res);
    }

    /** The escrow's mirror, or null when it is not mirrored (closed, or left by a previous process). */
    Live live(String escrowId) {
        return liveByEscrow.get(escrowId);
    }

    /** The pair's next request opens another escrow instead of reserving from {@code live}; false if it did already. */
    boolean stopTaking(String payer, String worker, Live live) {
        return openByPair.remove(pair(payer, worker), live);
    }

    /** Undoes {@link #stopTaking} (a rolled-back commit), unless another escrow took the pair meanwhile. */
    void takeAgain(String payer, String worker, Live live) {
        openByPair.putIfAbsent(pair(payer, worker), live);
    }

    /**
     * Closes the escrow's counter if nothing is reserved from it (one caller wins) and forgets the mirror; the mirror
     * when it closed, else null.
     */
    Live closeIfIdle(String escrowId) {
        Live live = liveByEscrow.get(escrowId);
        if (live == null || !live.reserved.compareAndSet(0, CLOSED)) {
            return null;
        }
        liveByEscrow.remove(escrowId, live);
        return live;
    }

    /** Undoes {@link #closeIfIdle} (a rolled-back commit). */
    void reopen(Live live) {
        live.reserved.compareAndSet(CLOSED, 0);
        liveByEscrow.putIfAbsent(live.escrowId, live);
    }

    /** Forgets the escrow's mirror whatever is reserved from it (its budget was closed); the mirror, or null. */
    Live forget(String escrowId) {
        return liveByEscrow.remove(escrowId);
    }

    /** Undoes {@link #forget} (a rolled-back commit). */
    void remember(Live live) {
        liveByEscrow.putIfAbsent(live.escrowId, live);
    }
}
