package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.ledger.EmbeddedLedger;
import dev.tollgate.escrow.port.EscrowResult;
import dev.tollgate.escrow.port.LockRequest;
import dev.tollgate.metering.UsageRecord;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;

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

    private final SettlementConfig cfg;
    private final EmbeddedLedger ledger;
    private final BudgetBook book;
    private final OpenBudgets budgets;

    /** The next escrow of a budget, opened in memory at admission; the journal locks it and writes its row. */
    record Open(String escrowId, String account, String worker, long amountMicros, long expiresAtMillis,
                String replaces) {
    }

    /** What one admitted request reserved, until its usage is journaled. */
    record Reservation(String escrowId, long amount) {
    }

    StreamBudgetPolicy(SettlementConfig cfg, Database db, EmbeddedLedger ledger, LedgerIntents intents, Clock clock,
                       Runnable journalWake) {
        this.cfg = cfg;
        this.ledger = ledger;
        this.book = new BudgetBook(db);
        this.budgets = new OpenBudgets(cfg, ledger, intents, clock, journalWake);
    }

    /**
     * Decides a request on the caller's thread, in memory ({@link OpenBudgets}): a reservation from the open escrow,
     * or the next escrow opened (or 402).
     */
    Admission admit(String requestId, String account, String worker, long est, AccountPolicy p) {
        return budgets.admit(requestId, account, worker, est, p);
    }

    /**
     * At start-up, after the usage log's replay and before any admission: mirrors every open budget in memory, so
     * that admission never reads the database (budgets are only opened by this process).
     */
    void loadOpen(Connection c) throws SQLException {
        for (BudgetBook.Row b : book.select(c, "state = 'open' ORDER BY last_release_ms")) {
            budgets.mirror(b.escrowId, b.payer, b.worker, b.locked, b.costMicros(), expiresAt(c, b.escrowId));
        }
    }

    /** The reservation an admitted request made, taken (once) when its usage is journaled; null if none. */
    Reservation take(UsageRecord r, boolean budgetAccount) {
        return budgets.take(r, budgetAccount);
    }

    /** The reservation a request was admitted against, still in memory (read as its record is logged), or null. */
    Reservation reservationOf(String requestId) {
        return budgets.reservationOf(requestId);
    }

    /** At start-up: a reservation read back from the usage log with its record (replayed once). */
    void restore(String requestId, Reservation res) {
        budgets.restore(requestId, res);
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
            holdsNothing(c, row, o, now);
        }
        replaced(c, o, now);
    }

    /**
     * An escrow opened at admission whose {@link Open} the journal could not write even alone (a database error):
     * the budget is written holding nothing, as for a lock the ledger refused, so the requests admitted against it
     * are paid straight from the payer's balance when it closes (or owed), and the next request opens another. The
     * admission's reservation of the amount is given back by the caller, in memory.
     */
    void refuseOpen(Connection c, Open o, long now) throws SQLException {
        BudgetBook.Row row = book.insert(c, o.escrowId(), o.account(), o.worker(), o.amountMicros(), now, "open");
        holdsNothing(c, row, o, now);
        replaced(c, o, now);
    }

    /** A budget whose escrow was never locked: it takes no more requests and closes after its last one. */
    private void holdsNothing(Connection c, BudgetBook.Row row, Open o, long now) throws SQLException {
        row.locked = 0;
        row.state = "draining";
        book.changed(row);
        OpenBudgets.Live live = budgets.live(o.escrowId());
        if (live != null && budgets.stopTaking(o.account(), o.worker(), live)) {
            book.onRollback(() -> budgets.takeAgain(o.account(), o.worker(), live));
        }
        closeIfIdle(c, row, now);
    }

    /** The escrow an opened one replaces stops taking requests and closes once its last one is settled. */
    private void replaced(Connection c, Open o, long now) throws SQLException {
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
        book.onRollback(() -> budgets.restore(r.requestId(), res));
        if (b == null) {
            // Its Open was neither written nor refused (the database failed both): the record is quarantined, kept
            // for an operator, rather than settled against nothing.
            throw new SQLException("stream budget " + res.escrowId() + " of request " + r.requestId()
                    + " was never written");
        }
        long picos = Outcomes.refundAll(r, p) || cfg.priceOf(r.model()) == null ? 0 : cfg.priceOf(r.model())
                .picosFor(r.promptTokens(), r.completionTokens(), 1, Outcomes.computeMillis(r));
        long before = b.costMicros();
        b.costPico += picos;
        b.callsSince++;
        b.tokensSince += r.promptTokens() + r.completionTokens();
        book.changed(b);
        long cumulative = b.costMicros();
        OpenBudgets.Live live = budgets.live(b.escrowId);
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
        // more: its whole cost is paid straight from the payer's balance. A budget that never held anything (its
        // lock refused or never written) pays all of it from the balance when it closes.
        long share = b.costPico / 1_000_000L - (b.costPico - picos) / 1_000_000L;
        long direct = b.finished() ? share : 0;
        long cost = b.finished() || b.locked == 0 ? share : cumulative - before;
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
     * A record that was quarantined (it could not be journaled, even alone): its request's reservation goes back to
     * its budget, which closes if it was draining and this was its last request (what it owes released, the rest
     * refunded), instead of staying open until the next start. The record itself pays nothing unless an operator
     * settles it by hand.
     */
    void quarantined(Connection c, UsageRecord r, long now) throws SQLException {
        if (cfg.policyOf(r.account()).kind() != PolicyKind.STREAM_BUDGET) {
            return;
        }
        Reservation res = budgets.take(r, true);
        if (res == null) {
            return;
        }
        BudgetBook.Row b = book.row(c, res.escrowId());
        book.onRollback(() -> budgets.restore(r.requestId(), res));
        OpenBudgets.Live live = budgets.live(res.escrowId());
        if (live != null) {
            live.reserved.addAndGet(-res.amount());
            book.onRollback(() -> live.reserved.addAndGet(res.amount()));
        }
        if (b != null && b.state.equals("draining")) {
            closeIfIdle(c, b, now);
        }
    }

    /**
     * Closes a draining budget whose escrow has no reservation left (one request at a time can find it idle: the
     * counter is closed atomically). A budget not mirrored in memory (replayed at start-up) waits for
     * {@link #closeOrphans}.
     */
    private void closeIfIdle(Connection c, BudgetBook.Row b, long now) throws SQLException {
        OpenBudgets.Live live = budgets.closeIfIdle(b.escrowId);
        if (live == null) {
            return;
        }
        book.onRollback(() -> budgets.reopen(live));
        close(c, b, now);
    }

    /** Releases what is owed so far (a batch); no-op when nothing new is owed. */
    private void release(Connection c, BudgetBook.Row b, long now) throws SQLException {
        long target = b.costMicros();
        if (target > b.releasedTarget && b.locked > 0) { // A budget holding nothing pays at its close, from the balance.
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
            OpenBudgets.Live live = budgets.forget(b.escrowId);
            if (live != null) {
                boolean wasOpen = budgets.stopTaking(b.payer, b.worker, live);
                book.onRollback(() -> {
                    budgets.remember(live);
                    if (wasOpen) {
                        budgets.takeAgain(b.payer, b.worker, live);
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
