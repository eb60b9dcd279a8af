package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.port.EscrowPort;
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
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One escrow per payer x worker with a budget. Each request reserves its worst case from what the budget has
 * left (in memory, on the caller's thread: no database write per request); its actual cost accrues (exactly, in pico-USDC, across models) and is released in batches: every N
 * calls, N tokens or T milliseconds, each release naming the cumulative cost rounded once. When the budget
 * cannot cover a request the next escrow opens (or the request gets 402); an escrow that was replaced closes
 * once its last request is settled: what is owed is released, the rest refunded.
 *
 * <p>Threading: as {@link PerRequestPolicy}.
 */
final class StreamBudgetPolicy {
    static final String NAME = "stream_budget";

    private final SettlementConfig cfg;
    private final Database db;
    private final EscrowPort port;
    private final Clock clock;

    /** A budget row. */
    record Budget(String escrowId, String payer, String worker, long locked, long costPico,
                  long releasedTarget, long callsSince, long tokensSince, long lastReleaseMs, String state) {
        long costMicros() {
            return Math.min(locked, costPico / 1_000_000L);
        }
    }

    StreamBudgetPolicy(SettlementConfig cfg, Database db, EscrowPort port, Clock clock) {
        this.cfg = cfg;
        this.db = db;
        this.port = port;
        this.clock = clock;
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
    private final Map<String, Reservation> reservations = new ConcurrentHashMap<>();
    // Requests whose client left before their admission finished, journaled with no reservation yet: a
    // reservation that arrives for one afterwards is returned at once instead of being held forever.
    private final Set<String> endedBeforeAdmission = ConcurrentHashMap.newKeySet();

    private static String pair(String payer, String worker) {
        return payer + "\u0000" + worker;
    }

    /**
     * The fast path, on the caller's thread and without touching the database: reserve from the open escrow
     * when it can cover the request. Reservations are not journaled: a request that dies with the process
     * leaves no usage to settle, and its reservation dies with it.
     */
    Admission tryReserve(String requestId, String account, String worker, long est, long now) {
        Live live = openByPair.get(pair(account, worker));
        if (live == null || now >= live.rollOverAtMillis) {
            return null;
        }
        while (true) {
            long cur = live.reserved.get();
            if (live.locked - live.costMicros.get() - cur < est) {
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
    private long rollOverAt(long expiresAt, long now) {
        long margin = Math.max(60_000L, cfg.autoReleaseMillis() / 10);
        return expiresAt - margin;
    }

    /** The slow path, on the ledger executor: load the open escrow, or open the next one. */
    Admission admit(String requestId, String account, String worker, long est, AccountPolicy p) {
        long now = clock.millis();
        Admission fast = tryReserve(requestId, account, worker, est, now);
        if (fast != null) {
            return fast;
        }
        String[] opening = new String[1];
        Admission quick = db.transaction(c -> {
            Budget b = open(c, account, worker);
            if (b != null && !openByPair.containsKey(pair(account, worker))) {
                // First use since start: mirror the open escrow in memory.
                Live live = new Live(b.escrowId(), b.locked(), b.costMicros(),
                        rollOverAt(expiresAt(c, b.escrowId()), now));
                liveByEscrow.put(b.escrowId(), live);
                openByPair.put(pair(account, worker), live);
                Admission again = tryReserve(requestId, account, worker, est, now);
                if (again != null) {
                    return again;
                }
            }
            Live current = openByPair.get(pair(account, worker));
            boolean expiring = current != null && now >= current.rollOverAtMillis;
            if (current != null && !p.openNextEscrow() && !expiring) {
                return Admission.paymentRequired("The stream budget of " + account + " for " + worker
                        + " cannot cover this request (" + Micros.format(current.locked - current.costMicros.get()
                        - current.reserved.get()) + " USDC left).");
            }
            String escrowId = "bud-" + UUID.randomUUID();
            long amount = Math.max(Math.max(p.budgetMicros(), est), cfg.minLockMicros());
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO budget(escrow_id, payer, worker, locked, "
                    + "last_release_ms, state) VALUES (?, ?, ?, ?, ?, 'opening')")) {
                ps.setString(1, escrowId);
                ps.setString(2, account);
                ps.setString(3, worker);
                ps.setLong(4, amount);
                ps.setLong(5, now);
                ps.executeUpdate();
            }
            SettleOps.insert(c, "lock:" + escrowId, null, escrowId, SettleOps.Kind.LOCK, amount, account, worker, now);
            SettleOps.mark(c, "lock:" + escrowId, "sent", now, null);
            opening[0] = escrowId;
            return null;
        });
        if (quick != null) {
            return quick;
        }
        String escrowId = opening[0];
        Budget fresh = db.transaction(c -> byId(c, escrowId));
        EscrowResult r = port.lock("lock:" + escrowId, new LockRequest(escrowId, account, worker, fresh.locked(),
                now + cfg.autoReleaseMillis(), "tollgate op=lock:" + escrowId));
        return db.transaction(c -> {
            if (r instanceof EscrowResult.Done) {
                SettleOps.mark(c, "lock:" + escrowId, "done", now, null);
                setState(c, escrowId, "open");
                Live previous = openByPair.get(pair(account, worker));
                if (previous != null) {
                    setState(c, previous.escrowId, "draining");
                    if (previous.reserved.get() == 0) {
                        close(c, byId(c, previous.escrowId), now);
                        liveByEscrow.remove(previous.escrowId);
                    }
                }
                Live live = new Live(escrowId, fresh.locked(), 0,
                        rollOverAt(now + cfg.autoReleaseMillis(), now));
                liveByEscrow.put(escrowId, live);
                openByPair.put(pair(account, worker), live);
                live.reserved.addAndGet(est);
                return keep(requestId, live, est);
            }
            boolean rejected = r instanceof EscrowResult.Rejected;
            SettleOps.mark(c, "lock:" + escrowId, rejected ? "rejected" : "unknown", now, r.toString());
            setState(c, escrowId, rejected ? "failed" : "lock_unknown");
            return Admission.paymentRequired(rejected && ((EscrowResult.Rejected) r).code().equals("insufficient_balance")
                    ? "Insufficient balance: " + account + " cannot lock a stream budget of "
                    + Micros.format(fresh.locked()) + " USDC." : "The stream budget escrow could not be opened.");
        });
    }

    /** Records a reservation just made, unless its request already ended (then it is returned at once). */
    private Admission keep(String requestId, Live live, long est) {
        if (endedBeforeAdmission.remove(requestId)) {
            live.reserved.addAndGet(-est);
            return Admission.paymentRequired("The request ended before its admission did.");
        }
        reservations.put(requestId, new Reservation(live.escrowId, est));
        if (endedBeforeAdmission.remove(requestId)) {
            // Its record was journaled between the check and the put: take the reservation back.
            Reservation r = reservations.remove(requestId);
            if (r != null) {
                live.reserved.addAndGet(-r.amount());
            }
        }
        return Admission.granted(live.escrowId);
    }

    /**
     * The reservation an admitted request made, taken (once) when its usage is journaled; null if none. A
     * record of a client that left before any upstream call, with no reservation yet, is remembered so that a
     * reservation its admission makes later is returned.
     */
    Reservation take(UsageRecord r, boolean budgetAccount) {
        Reservation res = reservations.remove(r.requestId());
        if (res == null && budgetAccount && r.upstreamNanos() < 0
                && r.outcome() == dev.tollgate.metering.Outcome.CLIENT_DISCONNECTED) {
            endedBeforeAdmission.add(r.requestId());
            res = reservations.remove(r.requestId());
            if (res != null) {
                endedBeforeAdmission.remove(r.requestId());
            }
        }
        return res;
    }

    /** The reservation a request was admitted against, still in memory (read as its record is logged), or null. */
    Reservation reservationOf(String requestId) {
        return reservations.get(requestId);
    }

    /** At start-up: a reservation read back from the usage log with its record (replayed once). */
    void restore(String requestId, Reservation res) {
        reservations.put(requestId, res);
    }

    /** Budgets left draining by a previous process: their in-flight requests died with it, so close them. */
    static void closeOrphans(Connection c, long now) throws SQLException {
        for (Budget b : list(c, "SELECT * FROM budget WHERE state = 'draining'")) {
            close(c, b, now);
        }
    }

    void onUsage(Connection c, Reservation res, UsageRecord r, AccountPolicy p, long now) throws SQLException {
        Budget b = byId(c, res.escrowId());
        if (b == null) {
            return;
        }
        long picos = Outcomes.refundAll(r, p) || cfg.priceOf(r.model()) == null ? 0 : cfg.priceOf(r.model()).picosFor(r.promptTokens(),
                r.completionTokens(), 1, Outcomes.computeMillis(r));
        long before = b.costMicros();
        try (PreparedStatement ps = c.prepareStatement("UPDATE budget SET cost_pico = cost_pico + ?, "
                + "calls_since = calls_since + 1, tokens_since = tokens_since + ? WHERE escrow_id = ?")) {
            ps.setLong(1, picos);
            ps.setLong(2, r.promptTokens() + r.completionTokens());
            ps.setString(3, b.escrowId());
            ps.executeUpdate();
        }
        Budget after = byId(c, b.escrowId());
        Live live = liveByEscrow.get(b.escrowId());
        long stillReserved = 0;
        if (live != null) {
            live.costMicros.set(after.costMicros());
            stillReserved = live.reserved.addAndGet(-res.amount());
        }
        long cost = after.costMicros() - before;
        SettlementRows.insert(c, r.requestId(), r.account(), b.worker(), NAME, b.escrowId(), "batched", res.amount(),
                now);
        SettlementRows.update(c, r.requestId(), "cost = ?, cum_target = ?", cost, after.costMicros());
        long bonus = Outcomes.throughputBonus(r, p, cost);
        if (bonus > 0) {
            SettleOps.insert(c, "bonus-tps:" + r.requestId(), r.requestId(), b.escrowId() + ":bonus",
                    SettleOps.Kind.PAY, bonus, b.payer(), b.worker(), now);
        }
        boolean due = (p.batchCalls() > 0 && after.callsSince() >= p.batchCalls())
                || (p.batchTokens() > 0 && after.tokensSince() >= p.batchTokens())
                || (p.batchMillis() > 0 && now - after.lastReleaseMs() >= p.batchMillis());
        if (due) {
            release(c, after, now);
        }
        if (after.state().equals("draining") && stillReserved <= 0) {
            close(c, byId(c, after.escrowId()), now);
            liveByEscrow.remove(after.escrowId());
        }
    }

    /** Releases what is owed so far (a batch); no-op when nothing new is owed. */
    static void release(Connection c, Budget b, long now) throws SQLException {
        long target = b.costMicros();
        if (target > b.releasedTarget()) {
            SettleOps.insert(c, "release:" + b.escrowId() + ":" + target, null, b.escrowId(), SettleOps.Kind.RELEASE,
                    target, b.payer(), b.worker(), now);
        }
        try (PreparedStatement ps = c.prepareStatement("UPDATE budget SET released_target = ?, calls_since = 0, "
                + "tokens_since = 0, last_release_ms = ? WHERE escrow_id = ?")) {
            ps.setLong(1, Math.max(target, b.releasedTarget()));
            ps.setLong(2, now);
            ps.setString(3, b.escrowId());
            ps.executeUpdate();
        }
    }

    private static long expiresAt(Connection c, String escrowId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT expires_at_ms FROM escrow WHERE id = ?")) {
            ps.setString(1, escrowId);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : Long.MAX_VALUE;
            }
        }
    }

    /**
     * Releases what is owed, refunds the rest, closes the budget. Cost accrued beyond the escrow's lock (requests
     * that served more than their reservation) is paid straight from the payer's balance, or owed.
     */
    static void close(Connection c, Budget b, long now) throws SQLException {
        release(c, b, now);
        long beyond = b.costPico() / 1_000_000L - b.locked();
        if (beyond > 0) {
            SettleOps.insert(c, Arrears.OP_PREFIX + b.escrowId(), null, b.escrowId() + ":excess", SettleOps.Kind.PAY,
                    beyond, b.payer(), b.worker(), now);
        }
        SettleOps.insert(c, "refund:" + b.escrowId(), null, b.escrowId(), SettleOps.Kind.REFUND, 0, b.payer(),
                b.worker(), now);
        setState(c, b.escrowId(), "closed");
    }

    /** Time-based batches: budgets owing something for longer than their batch interval. */
    static void flushDue(Connection c, SettlementConfig cfg, long now) throws SQLException {
        for (Budget b : list(c, "SELECT * FROM budget WHERE state IN ('open', 'draining')")) {
            AccountPolicy p = cfg.policyOf(b.payer());
            if (p.batchMillis() > 0 && now - b.lastReleaseMs() >= p.batchMillis() && b.costMicros() > b.releasedTarget()) {
                release(c, b, now);
            }
        }
    }

    /** Closes every open budget of a payer (releases what is owed, refunds the rest). */
    static int closeAll(Connection c, String payer, long now) throws SQLException {
        int n = 0;
        for (Budget b : list(c, "SELECT * FROM budget WHERE payer = ? AND state IN ('open', 'draining')", payer)) {
            close(c, b, now);
            n++;
        }
        return n;
    }

    private static Budget open(Connection c, String payer, String worker) throws SQLException {
        var l = list(c, "SELECT * FROM budget WHERE payer = ? AND worker = ? AND state = 'open' "
                + "ORDER BY last_release_ms DESC LIMIT 1", payer, worker);
        return l.isEmpty() ? null : l.get(0);
    }

    static Budget byId(Connection c, String escrowId) throws SQLException {
        var l = list(c, "SELECT * FROM budget WHERE escrow_id = ?", escrowId);
        return l.isEmpty() ? null : l.get(0);
    }

    private static void setState(Connection c, String escrowId, String state) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE budget SET state = ? WHERE escrow_id = ?")) {
            ps.setString(1, state);
            ps.setString(2, escrowId);
            ps.executeUpdate();
        }
    }

    private static java.util.List<Budget> list(Connection c, String sql, String... args) throws SQLException {
        java.util.List<Budget> out = new java.util.ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < args.length; i++) {
                ps.setString(i + 1, args[i]);
            }
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new Budget(rs.getString("escrow_id"), rs.getString("payer"), rs.getString("worker"),
                            rs.getLong("locked"), rs.getLong("cost_pico"),
                            rs.getLong("released_target"), rs.getLong("calls_since"), rs.getLong("tokens_since"),
                            rs.getLong("last_release_ms"), rs.getString("state")));
                }
            }
        }
        return out;
    }
}
