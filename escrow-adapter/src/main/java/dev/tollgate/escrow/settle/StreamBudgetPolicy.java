package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.ledger.EmbeddedLedger;
import dev.tollgate.escrow.port.EscrowResult;
import dev.tollgate.escrow.port.LockRequest;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.pricing.Price;
import dev.tollgate.metering.UsageRecord;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One escrow per payer x worker with a budget, on the embedded ledger. Each request reserves its worst case from
 * what the budget has left, in memory on the caller's thread; its actual cost accrues (exactly, in pico-USDC,
 * across models) and is released in batches: every N calls, N tokens or T milliseconds, each release naming the
 * cumulative cost rounded once. When the budget cannot cover a request the next escrow opens, also in memory (its
 * amount reserved from the payer's available funds, its lock written by the journal's next group commit, as a
 * per-request lock is), or the request gets 402; an escrow that was replaced closes once its last request is
 * settled: what is owed is released, the rest refunded. The budget rows live in a {@link BudgetBook}: a usage
 * record reads and writes no budget row with SQL; each changed budget is written once per commit.
 *
 * <p>Threading: {@link #admit} on any thread (an event loop), never blocking, never touching the database (the open
 * budgets are read once at start-up, {@link #loadOpen}). The other methods run inside a database transaction (the
 * journal's writer, the settler's timers, start-up).
 */
final class StreamBudgetPolicy {
    static final String NAME = "stream_budget";
    // A drained escrow's reservation counter once it closed: no reservation can be made against it any more.
    private static final long CLOSED = Long.MIN_VALUE / 2;

    private final SettlementConfig cfg;
    private final Database db;
    private final EmbeddedLedger ledger;
    private final LedgerIntents intents;
    private final Clock clock;
    private final Runnable journalWake;
    private final BudgetBook book;

    /** The next escrow of a budget, opened in memory at admission; the journal locks it and writes its row. */
    record Open(String escrowId, String account, String worker, long amountMicros, long expiresAtMillis,
                String replaces) {
    }

    /** An escrow taking reservations (or draining its last ones), mirrored in memory for admission. */
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

    /** What one admitted request reserved, until its usage is journaled. */
    record Reservation(String escrowId, long amount) {
    }

    private final Map<String, Live> openByPair = new ConcurrentHashMap<>();
    private final Map<String, Live> liveByEscrow = new ConcurrentHashMap<>();
    private final BudgetReservations reservations = new BudgetReservations();

    StreamBudgetPolicy(SettlementConfig cfg, Database db, EmbeddedLedger ledger, LedgerIntents intents, Clock clock,
                       Runnable journalWake) {
        this.cfg = cfg;
        this.db = db;
        this.ledger = ledger;
        this.intents = intents;
        this.clock = clock;
        this.journalWake = journalWake;
        this.book = new BudgetBook(db);
    }

    private static String pair(String payer, String worker) {
        return payer + "\u0000" + worker;
    }

    /**
     * Decides a request on the caller's thread, in memory: a reservation from the open escrow, or the next escrow
     * opened (or 402).
     */
    Admission admit(String requestId, String account, String worker, long est, AccountPolicy p) {
        Admission fast = tryReserve(requestId, account, worker, est, clock.millis());
        return fast != null ? fast : openNext(requestId, account, worker, est, p, clock.millis());
    }

    /**
     * The fast path, on the caller's thread and without touching the database: reserve from the open escrow
     * when it can cover the request. Reservations are not journaled apart from their usage record: a request that
     * dies with the process leaves no usage to settle, and its reservation dies with it.
     */
    Admission tryReserve(String requestId, String account, String worker, long est, long now) {
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

    /**
     * At start-up, after the usage log's replay and before any admission: mirrors every open budget in memory, so
     * that admission never reads the database (budgets are only opened by this process).
     */
    void loadOpen(Connection c) throws SQLException {
        for (BudgetBook.Row b : book.select(c, "state = 'open' ORDER BY last_release_ms")) {
            Live live = new Live(b.escrowId, b.locked, b.costMicros(), rollOverAt(expiresAt(c, b.escrowId)));
            liveByEscrow.put(b.escrowId, live);
            openByPair.put(pair(b.payer, b.worker), live); // The most recently released one, if several.
        }
    }

    /**
     * In memory: the budget cannot cover the request (or its escrow rolls over), so the next escrow opens, its
     * amount reserved from the payer's available funds and its lock queued for the journal; or 402.
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
        intents.offer(new Open(escrowId, account, worker, amount, expiresAt, current == null ? null
                : current.escrowId));
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
    Reservation take(UsageRecord r, boolean budgetAccount) {
        return reservations.take(r, budgetAccount);
    }

    /** The reservation a request was admitted against, still in memory (read as its record is logged), or null. */
    Reservation reservationOf(String requestId) {
        return reservations.of(requestId);
    }

    /** At start-up: a reservation read back from the usage log with its record (replayed once). */
    void restore(String requestId, Reservation res) {
        reservations.put(requestId, res);
    }

    /**
     * In the journal's commit: locks an escrow opened at admission and writes its budget row; the escrow it
     * replaces stops taking requests and closes once its last one is settled. A lock the ledger refuses (the
     * balance changed outside this process) leaves a budget holding nothing: its cost is paid straight from the
     * payer's balance when it closes, and the next request opens another.
     */
    void applyOpen(Connection c, Open o, long now) throws SQLException {
        BudgetBook.Row row = book.insert(c, o.escrowId(), o.account(), o.worker(), o.amountMicros(), now, "open");
        EscrowResult r = ledger.lockJournaled(c, "lock:" + o.escrowId(), new LockRequest(o.escrowId(), o.account(),
                o.worker(), o.amountMicros(), o.expiresAtMillis(), "tollgate op=lock:" + o.escrowId()));
        if (!(r instanceof EscrowResult.Done)) {
            row.locked = 0;
            row.state = "draining";
            Live live = liveByEscrow.get(o.escrowId());
            if (live != null && openByPair.remove(pair(o.account(), o.worker()), live)) {
                book.onRollback(() -> openByPair.putIfAbsent(pair(o.account(), o.worker()), live));
            }
            closeIfIdle(c, row, now);
        }
        if (o.replaces() != null) {
            BudgetBook.Row previous = book.row(c, o.replaces());
            if (previous != null && previous.state.equals("open")) {
                previous.state = "draining";
                book.changed(previous);
                closeIfIdle(c, previous, now);
            }
        }
    }

    /** Budgets left draining by a previous process: their in-flight requests died with it, so close them. */
    void closeOrphans(Connection c, long now) throws SQLException {
        for (BudgetBook.Row b : book.select(c, "state = 'draining'")) {
            close(c, b, now);
        }
    }

    void onUsage(Connection c, Reservation res, UsageRecord r, String worker, AccountPolicy p, long now)
            throws SQLException {
        BudgetBook.Row b = book.row(c, res.escrowId());
        // Rolled back, the record is journaled again (alone) and must find its reservation.
        book.onRollback(() -> reservations.put(r.requestId(), res));
        if (b == null) {
            withoutBudget(c, res, r, worker, p, now);
            return;
        }
        long picos = Outcomes.refundAll(r, p) || cfg.priceOf(r.model()) == null ? 0 : cfg.priceOf(r.model())
                .picosFor(r.promptTokens(), r.completionTokens(), 1, Outcomes.computeMillis(r));
        long before = b.costMicros();
        b.costPico += picos;
        b.callsSince++;
        b.tokensSince += r.promptTokens() + r.completionTokens();
        book.changed(b);
        long cumulative = b.costMicros();
        Live live = liveByEscrow.get(b.escrowId);
        if (live != null) {
            long costBefore = live.costMicros.get();
            live.costMicros.set(cumulative);
            live.reserved.addAndGet(-res.amount());
            book.onRollback(() -> {
                live.reserved.addAndGet(res.amount());
                live.costMicros.set(costBefore);
            });
        }
        // A budget closed under its request (the payer's budgets were closed while it ran) holds nothing for it any
        // more: its whole cost is paid straight from the payer's balance.
        long direct = b.finished() ? b.costPico / 1_000_000L - (b.costPico - picos) / 1_000_000L : 0;
        long cost = b.finished() ? direct : cumulative - before;
        SettlementRows.insertBatched(c, r.requestId(), r.account(), b.worker, NAME, b.escrowId, res.amount(), cost,
                cumulative, now);
        long bonus = Outcomes.throughputBonus(r, p, cost);
        if (bonus > 0) {
            SettleOps.insert(c, "bonus-tps:" + r.requestId(), r.requestId(), b.escrowId + ":bonus",
                    SettleOps.Kind.PAY, bonus, b.payer, b.worker, now);
        }
        if (b.finished()) {
            if (direct > 0) {
                SettleOps.insert(c, Arrears.OP_PREFIX + r.requestId(), r.requestId(), b.escrowId + ":excess",
                        SettleOps.Kind.PAY, direct, b.payer, b.worker, now);
            }
            return;
        }
        boolean due = (p.batchCalls() > 0 && b.callsSince >= p.batchCalls())
                || (p.batchTokens() > 0 && b.tokensSince >= p.batchTokens())
                || (p.batchMillis() > 0 && now - b.lastReleaseMs >= p.batchMillis());
        if (due) {
            release(c, b, now);
        }
        if (b.state.equals("draining")) {
            closeIfIdle(c, b, now);
        }
    }

    /**
     * A request admitted against an escrow that was never opened (its {@link Open} could not be written even alone
     * and was skipped): nothing holds its cost, so it is paid straight from the payer's balance, or owed like any
     * cost beyond a hold; never dropped.
     */
    private void withoutBudget(Connection c, Reservation res, UsageRecord r, String worker, AccountPolicy p, long now)
            throws SQLException {
        Price price = cfg.priceOf(r.model());
        long cost = Outcomes.refundAll(r, p) || price == null ? 0
                : price.microsFor(r.promptTokens(), r.completionTokens(), 1, Outcomes.computeMillis(r));
        SettlementRows.insert(c, r.requestId(), r.account(), worker, NAME, res.escrowId(), "settled", 0, now);
        SettlementRows.update(c, r.requestId(), "cost = ?", cost);
        if (cost > 0) {
            SettleOps.insert(c, Arrears.OP_PREFIX + r.requestId(), r.requestId(), res.escrowId() + ":excess",
                    SettleOps.Kind.PAY, cost, r.account(), worker, now);
        }
    }

    /**
     * Closes a draining budget whose escrow has no reservation left (one request at a time can find it idle: the
     * counter is closed atomically). A budget not mirrored in memory (replayed at start-up) waits for
     * {@link #closeOrphans}.
     */
    private void closeIfIdle(Connection c, BudgetBook.Row b, long now) throws SQLException {
        Live live = liveByEscrow.get(b.escrowId);
        if (live == null || !live.reserved.compareAndSet(0, CLOSED)) {
            return;
        }
        liveByEscrow.remove(b.escrowId, live);
        book.onRollback(() -> {
            live.reserved.compareAndSet(CLOSED, 0);
            liveByEscrow.putIfAbsent(b.escrowId, live);
        });
        close(c, b, now);
    }

    /** Releases what is owed so far (a batch); no-op when nothing new is owed. */
    private void release(Connection c, BudgetBook.Row b, long now) throws SQLException {
        long target = b.costMicros();
        if (target > b.releasedTarget) {
            SettleOps.insert(c, "release:" + b.escrowId + ":" + target, null, b.escrowId, SettleOps.Kind.RELEASE,
                    target, b.payer, b.worker, now);
            b.releasedTarget = target;
        }
        b.callsSince = 0;
        b.tokensSince = 0;
        b.lastReleaseMs = now;
        book.changed(b);
    }

    /**
     * Releases what is owed, refunds the rest, closes the budget. Cost accrued beyond the escrow's lock (requests
     * that served more than their reservation) is paid straight from the payer's balance, or owed.
     */
    private void close(Connection c, BudgetBook.Row b, long now) throws SQLException {
        release(c, b, now);
        long beyond = b.costPico / 1_000_000L - b.locked;
        if (beyond > 0) {
            SettleOps.insert(c, Arrears.OP_PREFIX + b.escrowId, null, b.escrowId + ":excess", SettleOps.Kind.PAY,
                    beyond, b.payer, b.worker, now);
        }
        if (b.locked > 0) {
            SettleOps.insert(c, "refund:" + b.escrowId, null, b.escrowId, SettleOps.Kind.REFUND, 0, b.payer,
                    b.worker, now);
        }
        b.state = "closed";
        book.changed(b);
    }

    /** Time-based batches: budgets owing something for longer than their batch interval. */
    void flushDue(Connection c, long now) throws SQLException {
        for (BudgetBook.Row b : book.select(c, "state IN ('open', 'draining')")) {
            AccountPolicy p = cfg.policyOf(b.payer);
            if (p.batchMillis() > 0 && now - b.lastReleaseMs >= p.batchMillis() && b.costMicros() > b.releasedTarget) {
                release(c, b, now);
            }
        }
    }

    /**
     * Closes every open budget of a payer (releases what is owed, refunds the rest); the payer's next request
     * opens a new one. A request still running on a closed budget pays its cost straight from the balance.
     */
    int closeAll(Connection c, String payer, long now) throws SQLException {
        int n = 0;
        for (BudgetBook.Row b : book.select(c, "payer = ? AND state IN ('open', 'draining')", payer)) {
            Live live = liveByEscrow.remove(b.escrowId);
            if (live != null) {
                boolean wasOpen = openByPair.remove(pair(b.payer, b.worker), live);
                book.onRollback(() -> {
                    liveByEscrow.putIfAbsent(b.escrowId, live);
                    if (wasOpen) {
                        openByPair.putIfAbsent(pair(b.payer, b.worker), live);
                    }
                });
            }
            close(c, b, now);
            n++;
        }
        return n;
    }

    private static long expiresAt(Connection c, String escrowId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT expires_at_ms FROM escrow WHERE id = ?")) {
            ps.setString(1, escrowId);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : Long.MAX_VALUE;
            }
        }
    }
}
