package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.agent.AgentEscrow;
import dev.tollgate.escrow.agent.AgentEscrowException;
import dev.tollgate.escrow.agent.AgentEscrows;
import dev.tollgate.escrow.ledger.EmbeddedLedger;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.metering.UsageRecord;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Billing by period, per payer x worker, for {@code subscription}, {@code hybrid} and {@code milestone} accounts.
 * A period opens at the first request that finds none: its escrows are agent escrows (so the payer sees and
 * manages them through the agent API) locked from the payer's balance:
 * <ul>
 *   <li>subscription: one escrow of the period price, auto-released to the worker at the period's end; the
 *       period covers up to {@code quota} requests (then 402 until the next period);</li>
 *   <li>hybrid: the same base escrow for the first {@code quota} requests, and an overage escrow of
 *       {@code overage_pool} auto-refunded an hour after the period's end; each request beyond the quota releases
 *       {@code overage_price} from it (cumulative target, exact), and when the pool cannot cover one more, 402; a
 *       unit whose usage record arrives after the pool closed is paid from the payer's balance, or owed (retried,
 *       the payer in arrears: its next requests are 402 until it is paid, see {@link Arrears});</li>
 *   <li>milestone: a project escrow of the price with named tranches the payer releases by API call; requests are
 *       admitted while it is open; once its last tranche is released (or it expires, refunded), its period row is
 *       closed in the same transaction and the next request opens the next project.</li>
 * </ul>
 * Periods roll over on time (a request after the end opens the next period; the agent escrow timer settles the
 * old one's escrows at their auto-release time) and survive restarts (table {@code billing_period}: the period
 * and the requests it covered are durable; at start-up the current periods are loaded back).
 *
 * <p>Threading: {@link #admit} on an event loop: decided in memory when the period is open; opening a period runs
 * on the agent escrow thread (one database transaction) and completes the admission there. {@link #onUsage} and
 * {@link #load} on the journal's writer inside its transaction; {@link #escrowClosed} on the agent escrow thread.
 */
final class PeriodPolicy {
    /** A period, mirrored in memory for admission. */
    static final class Period {
        final long seq;
        final String kind;
        final long startMs;
        final long endMs;
        final String baseEscrow;
        final String overageEscrow;
        final long quota;
        final long overageCapacity;
        final AtomicLong admitted;
        volatile boolean open = true;

        Period(long seq, String kind, long startMs, long endMs, String baseEscrow, String overageEscrow, long quota,
               long overageCapacity, long used) {
            this.seq = seq;
            this.kind = kind;
            this.startMs = startMs;
            this.endMs = endMs;
            this.baseEscrow = baseEscrow;
            this.overageEscrow = overageEscrow;
            this.quota = quota;
            this.overageCapacity = overageCapacity;
            this.admitted = new AtomicLong(used);
        }

        boolean current(long now) {
            return open && now < endMs;
        }

        Admission take() {
            long n = admitted.incrementAndGet();
            if (quota == 0 || n <= quota) {
                return Admission.granted(baseEscrow);
            }
            if (overageEscrow != null && n - quota <= overageCapacity) {
                return Admission.granted(overageEscrow);
            }
            admitted.decrementAndGet();
            return Admission.paymentRequired((overageEscrow == null ? "The period's quota of " + quota
                    + " requests is used up" : "The period's quota of " + quota + " requests and its overage pool "
                    + "are used up") + " until " + Instant.ofEpochMilli(endMs) + ".");
        }
    }

    /**
     * The overage pool outlives its period by this long, so a request admitted just before the end and finishing
     * after it still pays its unit; then the unused remainder is refunded.
     */
    static final long OVERAGE_GRACE_HOURS = 1;

    private final AgentEscrows escrows;
    private final EmbeddedLedger ledger;
    private final Clock clock;
    private final Map<String, Period> live = new ConcurrentHashMap<>();
    private final Map<String, Period> byBaseEscrow = new ConcurrentHashMap<>();
    private final Map<String, CompletableFuture<Period>> opening = new ConcurrentHashMap<>();
    /** Payers that may owe an overage unit paid after its pool closed, each with the mark of its latest one. */
    private final Map<String, Object> owing = new ConcurrentHashMap<>();

    PeriodPolicy(AgentEscrows escrows, EmbeddedLedger ledger, Clock clock) {
        this.escrows = escrows;
        this.ledger = ledger;
        this.clock = clock;
    }

    private static String pair(String account, String worker) {
        return account + '\n' + worker;
    }

    private static String kindName(PolicyKind k) {
        return k.name().toLowerCase();
    }

    CompletableFuture<Admission> admit(String account, String worker, AccountPolicy p) {
        Object mark = owing.get(account);
        if (mark == null) {
            return admitInPeriod(account, worker, p);
        }
        // The payer may owe a late overage unit: asked of the database (rare), on the agent escrow thread.
        return escrows.submit(c -> Arrears.owedInDb(c, account)).thenCompose(owed -> {
            if (owed > 0) {
                return CompletableFuture.completedFuture(Admission.paymentRequired("Account " + account + " owes "
                        + Micros.format(owed) + " USDC for overage served after its pool closed; top up the "
                        + "balance."));
            }
            owing.remove(account, mark); // Unless a new owed unit was recorded meanwhile.
            return admitInPeriod(account, worker, p);
        });
    }

    private CompletableFuture<Admission> admitInPeriod(String account, String worker, AccountPolicy p) {
        String key = pair(account, worker);
        Period cur = live.get(key);
        if (cur != null && cur.current(clock.millis())) {
            return CompletableFuture.completedFuture(cur.take());
        }
        CompletableFuture<Period> mine = new CompletableFuture<>();
        CompletableFuture<Period> f = opening.putIfAbsent(key, mine);
        if (f == null) {
            f = mine;
            escrows.submit(c -> open(c, account, worker, p)).whenComplete((period, err) -> {
                if (period != null) {
                    publish(key, period);
                }
                opening.remove(key, mine);
                if (err != null) {
                    mine.completeExceptionally(err);
                } else {
                    mine.complete(period);
                }
            });
        }
        return f.handle((period, err) -> {
            if (err == null) {
                return period.current(clock.millis()) ? period.take()
                        : Admission.paymentRequired("The billing period ended while opening; retry.");
            }
            Throwable cause = err instanceof CompletionException && err.getCause() != null ? err.getCause() : err;
            if (cause instanceof AgentEscrowException e && e.code().equals("insufficient_balance")) {
                return Admission.paymentRequired("Insufficient balance: " + account + " cannot fund the "
                        + kindName(p.kind()) + " period (" + e.getMessage() + ")");
            }
            throw new CompletionException(cause);
        });
    }

    private void publish(String key, Period period) {
        live.put(key, period);
        byBaseEscrow.put(period.baseEscrow, period);
    }

    /** Opens the pair's next period inside the agent escrow thread's transaction (or returns the open one). */
    private Period open(Connection c, String account, String worker, AccountPolicy p) throws SQLException {
        long now = clock.millis();
        Period cur = live.get(pair(account, worker));
        if (cur != null && cur.current(now)) {
            return cur;
        }
        BillingPattern b = p.pattern();
        String kind = kindName(p.kind());
        closeRows(c, account, worker);
        boolean milestone = p.kind() == PolicyKind.MILESTONE;
        AgentEscrow base = escrows.create(c, account, worker, b.periodPriceMicros(), kind + " period of " + account,
                b.periodHours(), milestone ? "refund" : "release");
        if (milestone) {
            escrows.addMilestones(c, base.id(), BillingPattern.trancheMicros(b.milestones(), b.periodPriceMicros()));
        }
        AgentEscrow overage = p.kind() == PolicyKind.HYBRID ? escrows.create(c, account, worker,
                b.overagePoolMicros(), "hybrid overage pool of " + account, b.periodHours() + OVERAGE_GRACE_HOURS,
                "refund") : null;
        long quota = milestone ? 0 : b.quota();
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO billing_period(account, worker, kind, start_ms, "
                + "end_ms, base_escrow, overage_escrow, quota) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")) {
            ps.setString(1, account);
            ps.setString(2, worker);
            ps.setString(3, kind);
            ps.setLong(4, now);
            ps.setLong(5, base.releaseAtMillis());
            ps.setString(6, base.id());
            ps.setString(7, overage == null ? null : overage.id());
            ps.setLong(8, quota);
            ps.executeUpdate();
        }
        long seq;
        try (PreparedStatement ps = c.prepareStatement("SELECT last_insert_rowid()"); ResultSet rs = ps.executeQuery()) {
            rs.next();
            seq = rs.getLong(1);
        }
        return new Period(seq, kind, now, base.releaseAtMillis(), base.id(), overage == null ? null : overage.id(), quota,
                overage == null ? 0 : b.overagePoolMicros() / b.overagePriceMicros(), 0);
    }

    private static void closeRows(Connection c, String account, String worker) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "UPDATE billing_period SET open = 0 WHERE account = ? AND worker = ? AND open = 1")) {
            ps.setString(1, account);
            ps.setString(2, worker);
            ps.executeUpdate();
        }
    }

    /**
     * An agent escrow closed (released, refunded, expired), inside the transaction that closed it: a period whose
     * base escrow it was ends now. A milestone project's row is closed durably with it (its last tranche released
     * or the project refunded), so a restart finds it closed; a subscription or hybrid row stays open until the
     * next period opens, for its late requests (its overage pool outlives it).
     */
    void escrowClosed(Connection c, String escrowId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE billing_period SET open = 0 WHERE base_escrow = ? "
                + "AND kind = ? AND open = 1")) {
            ps.setString(1, escrowId);
            ps.setString(2, kindName(PolicyKind.MILESTONE));
            ps.executeUpdate();
        }
        Period p = byBaseEscrow.remove(escrowId);
        if (p != null) {
            p.open = false;
        }
    }

    /**
     * Counts a journaled request against its pair's open period (durably) and, for hybrid beyond the quota,
     * releases its overage unit from the overage escrow; records the request's settlement row.
     */
    void onUsage(Connection c, UsageRecord r, String worker, AccountPolicy p, long now) throws SQLException {
        String account = r.account();
        String base;
        String overage;
        long seq;
        long quota;
        long used;
        long units;
        // A milestone project's row is closed with its last tranche: a request admitted under it and journaled
        // after that is still covered by it (the latest project), not by a new one.
        try (PreparedStatement ps = c.prepareStatement("SELECT base_escrow, overage_escrow, seq, quota, used, "
                + "overage_units FROM billing_period WHERE account = ? AND worker = ? AND (open = 1 OR kind = ?) "
                + "ORDER BY seq DESC LIMIT 1")) {
            ps.setString(1, account);
            ps.setString(2, worker);
            ps.setString(3, p.kind() == PolicyKind.MILESTONE ? kindName(PolicyKind.MILESTONE) : "");
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    SettlementRows.insert(c, r.requestId(), account, worker, kindName(p.kind()), null, "uncovered", 0,
                            now);
                    return;
                }
                base = rs.getString(1);
                overage = rs.getString(2);
                seq = rs.getLong(3);
                quota = rs.getLong(4);
                used = rs.getLong(5);
                units = rs.getLong(6);
            }
        }
        if (Outcomes.refundAll(r, p) || (r.upstreamNanos() < 0
                && r.outcome() == dev.tollgate.metering.Outcome.CLIENT_DISCONNECTED)) {
            // Not served (failed, or its client left before it was forwarded): it does not use the period's
            // quota (admission counted it in memory: give it back).
            Period live = this.live.get(pair(account, worker));
            if (live != null && live.seq == seq) {
                live.admitted.decrementAndGet();
            }
            SettlementRows.insert(c, r.requestId(), account, worker, kindName(p.kind()), base, "not_counted", 0, now);
            return;
        }
        used++;
        String escrow = base;
        String state = "covered";
        long cost = 0;
        long released = 0;
        if (overage != null && quota > 0 && used > quota) {
            units++;
            long price = p.pattern().overagePriceMicros();
            var result = ledger.releaseTo(c, "overage:" + r.requestId(), overage, Math.multiplyExact(units, price));
            escrow = overage;
            cost = price;
            boolean ok = result instanceof dev.tollgate.escrow.port.EscrowResult.Done;
            released = ok ? price : 0;
            state = ok ? "overage" : "overage_owed";
            if (!ok) {
                // The pool closed before this record arrived: the unit is paid straight from the payer's balance,
                // in this commit if it can, else owed and retried with the payer in arrears.
                String opId = Arrears.OP_PREFIX + r.requestId();
                SettleOps.insert(c, opId, r.requestId(), opId, SettleOps.Kind.PAY, price, account, worker, now);
                owing.put(account, new Object());
            }
        }
        try (PreparedStatement ps = c.prepareStatement("UPDATE billing_period SET used = ?, overage_units = ? "
                + "WHERE seq = ?")) {
            ps.setLong(1, used);
            ps.setLong(2, units);
            ps.setLong(3, seq);
            ps.executeUpdate();
        }
        SettlementRows.insert(c, r.requestId(), account, worker, kindName(p.kind()), escrow, state, 0, now);
        if (cost > 0) {
            SettlementRows.update(c, r.requestId(), "cost = ?, released = ?", cost, released);
        }
    }

    /**
     * At start-up: the periods still open come back into memory with the requests they covered; a period whose
     * end has passed, or whose base escrow was closed while the process was down, is closed.
     */
    void load(Connection c, long now, java.util.function.Function<String, AccountPolicy> policyOf)
            throws SQLException {
        java.util.List<String[]> stale = new java.util.ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT p.account, p.worker, p.kind, p.start_ms, p.end_ms, "
                + "p.base_escrow, p.overage_escrow, p.quota, p.used, e.status, o.locked, p.seq "
                + "FROM billing_period p JOIN escrow e ON e.id = p.base_escrow "
                + "LEFT JOIN escrow o ON o.id = p.overage_escrow WHERE p.open = 1");
             ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                if (rs.getLong(5) <= now || !rs.getString(10).equals("locked")) {
                    stale.add(new String[] {rs.getString(1), rs.getString(2)});
                    continue;
                }
                long price = policyOf.apply(rs.getString(1)).pattern().overagePriceMicros();
                long capacity = rs.getString(7) == null || price <= 0 ? 0 : rs.getLong(11) / price;
                publish(pair(rs.getString(1), rs.getString(2)), new Period(rs.getLong(12), rs.getString(3), rs.getLong(4),
                        rs.getLong(5), rs.getString(6), rs.getString(7), rs.getLong(8), capacity, rs.getLong(9)));
            }
        }
        for (String[] s : stale) {
            closeRows(c, s[0], s[1]);
        }
        try (PreparedStatement ps = c.prepareStatement("SELECT DISTINCT payer FROM settle_op WHERE op_id LIKE "
                + "'excess:%' AND state IN ('pending', 'unknown') AND attempts > 0");
             ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                owing.put(rs.getString(1), new Object());
            }
        }
    }
}
