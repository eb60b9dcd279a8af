package dev.tollgate.escrow.settle;

import dev.tollgate.metering.UsageRecord;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/**
 * Settlement for backends without partial release (the Purple Flea service): nothing is locked before a
 * request; the cost of each payer x worker's requests (bonuses included) accrues exactly, and whenever what is
 * owed and unpaid reaches the backend's minimum, one payment for it is made (an escrow created and released
 * whole). One payment per payer x worker is in flight at a time, and whatever accrued meanwhile goes into the
 * next one when it finishes (one escrow per create, however many minimums were crossed). A payment refused for
 * insufficient balance puts the payer in arrears ({@code arrears = 1}: its next requests get 402); any other
 * refusal is a configuration error ({@code arrears = 2}: 503, the reason in {@code postpay_problem}). Either way
 * the amount stays owed and is asked for again on a timer ({@link #retryArrears}), never per request.
 *
 * <p>Threading: inside the journal's or the settler's transaction.
 */
final class PostPayPolicy {
    static final String NAME = "post_pay";
    static final String LANE = "postpay:";

    private static final java.util.concurrent.atomic.AtomicLong NONCE =
            new java.util.concurrent.atomic.AtomicLong(System.nanoTime() & 0xffffffL);

    private final SettlementConfig cfg;
    private final long minimum;

    PostPayPolicy(SettlementConfig cfg, long minimum) {
        this.cfg = cfg;
        this.minimum = minimum;
    }

    static String lane(String payer, String worker) {
        return LANE + payer + ":" + worker;
    }

    static boolean inArrears(Connection c, String payer, String worker) throws SQLException {
        Standing s = standing(c, payer, worker);
        return s != null && s.insufficientBalance();
    }

    /** Why a payer x worker's payments stopped: the service's code and message. */
    record Standing(String code, String message) {
        boolean insufficientBalance() {
            return code.equals("insufficient_balance");
        }
    }

    /** Why this payer x worker's payments are stopped, or null when they are not. */
    static Standing standing(Connection c, String payer, String worker) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT p.arrears, q.code, q.message FROM postpay p "
                + "LEFT JOIN postpay_problem q ON q.payer = p.payer AND q.worker = p.worker "
                + "WHERE p.payer = ? AND p.worker = ?")) {
            ps.setString(1, payer);
            ps.setString(2, worker);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next() || rs.getInt(1) == 0) {
                    return null;
                }
                String code = rs.getString(2);
                return code != null ? new Standing(code, rs.getString(3))
                        : new Standing("insufficient_balance", "the payer's balance is too low");
            }
        }
    }

    void onUsage(Connection c, UsageRecord r, String worker, AccountPolicy p, long now) throws SQLException {
        String payer = r.account();
        long picos = Outcomes.refundAll(r, p) || cfg.priceOf(r.model()) == null ? 0 : cfg.priceOf(r.model()).picosFor(r.promptTokens(),
                r.completionTokens(), 1, Outcomes.computeMillis(r));
        long cost = picos / 1_000_000L;
        long bonus = Outcomes.throughputBonus(r, p, cost);
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO postpay(payer, worker, owed_pico) VALUES (?, ?, ?) "
                + "ON CONFLICT(payer, worker) DO UPDATE SET owed_pico = owed_pico + excluded.owed_pico")) {
            ps.setString(1, payer);
            ps.setString(2, worker);
            ps.setLong(3, picos + bonus * 1_000_000L);
            ps.executeUpdate();
        }
        long[] owed = owed(c, payer, worker);
        SettlementRows.insert(c, r.requestId(), payer, worker, NAME, lane(payer, worker), "batched", 0, now);
        SettlementRows.update(c, r.requestId(), "cost = ?, bonus = ?, cum_target = ?", cost, bonus, owed[0]);
        payIfDue(c, payer, worker, now);
    }

    /**
     * Issues a payment for what is owed and unpaid when it reaches the minimum, unless a payment of this payer x
     * worker is in flight (what accrues meanwhile goes into the next one) or the payer is in arrears or
     * misconfigured (asked again by the timer only).
     */
    void payIfDue(Connection c, String payer, String worker, long now) throws SQLException {
        if (standing(c, payer, worker) == null) {
            payUnlessBusy(c, payer, worker, now);
        }
    }

    private void payUnlessBusy(Connection c, String payer, String worker, long now) throws SQLException {
        long[] owed = owed(c, payer, worker);
        long unpaid = owed[0] - owed[1];
        if (unpaid <= 0) {
            return;
        }
        if (busy(c, lane(payer, worker))) {
            // A payment not yet sent (or provably never received) grows to carry what accrued since.
            Unsent unsent = unsent(c, lane(payer, worker));
            if (unsent != null) {
                topUp(c, unsent.op(), unsent.nextAt(), unsent.error(), now);
            }
            return;
        }
        if (unpaid < minimum) {
            return;
        }
        // Unique even when an amount is owed again at the same instant (the last part is the cumulative target).
        SettleOps.insert(c, lane(payer, worker) + ":" + now + "." + Long.toHexString(NONCE.incrementAndGet()) + ":"
                + owed[0], null, lane(payer, worker), SettleOps.Kind.PAY, unpaid,
                payer, worker, now);
        try (PreparedStatement ps = c.prepareStatement("UPDATE postpay SET paid = ? WHERE payer = ? AND worker = ?")) {
            ps.setLong(1, owed[0]);
            ps.setString(2, payer);
            ps.setString(3, worker);
            ps.executeUpdate();
        }
    }

    /**
     * A payment that provably reached nothing (never sent, or refused by a rate limit) is retried at {@code nextAt}
     * for everything owed now (one whose escrow already exists is retried as it is): it takes a new id naming the new cumulative target (no remote record carries the
     * old one) and keeps its creation time, so that its age still shows how long the pair has waited.
     */
    static void topUp(Connection c, SettleOps.Op op, long nextAt, String why, long now) throws SQLException {
        if (hasRemote(c, op.opId())) {
            // Its escrow exists (a release was refused or never left): retry that release, same id, same amount.
            SettleOps.mark(c, op.opId(), "pending", nextAt, why);
            return;
        }
        long[] owed = owed(c, op.payer(), op.payee());
        long target = op.target() + owed[0] - owed[1];
        String id = lane(op.payer(), op.payee()) + ":" + now + "." + Long.toHexString(NONCE.incrementAndGet()) + ":"
                + owed[0];
        try (PreparedStatement ps = c.prepareStatement("UPDATE settle_op SET op_id = ?, target = ?, state = 'pending', "
                + "next_at_ms = ?, error = ? WHERE op_id = ?")) {
            ps.setString(1, id);
            ps.setLong(2, target);
            ps.setLong(3, nextAt);
            ps.setString(4, why);
            ps.setString(5, op.opId());
            ps.executeUpdate();
            SettleOps.madePending();
        }
        try (PreparedStatement ps = c.prepareStatement("UPDATE postpay SET paid = ? WHERE payer = ? AND worker = ?")) {
            ps.setLong(1, owed[0]);
            ps.setString(2, op.payer());
            ps.setString(3, op.payee());
            ps.executeUpdate();
        }
    }

    /** Payers in arrears get their owed amount asked for again (a payment may now go through). */
    void retryArrears(Connection c, long now) throws SQLException {
        java.util.List<String[]> rows = new java.util.ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT payer, worker FROM postpay WHERE arrears <> 0");
             ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                rows.add(new String[] {rs.getString(1), rs.getString(2)});
            }
        }
        for (String[] r : rows) {
            payUnlessBusy(c, r[0], r[1], now);
        }
    }

    private record Unsent(SettleOps.Op op, long nextAt, String error) {
    }

    /** The lane's pending payment that nothing remote knows of, or null. */
    private static Unsent unsent(Connection c, String lane) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT o.op_id, o.request_id, o.escrow_id, o.target, o.payer, "
                + "o.payee, o.attempts, o.next_at_ms, o.error FROM settle_op o WHERE o.escrow_id = ? "
                + "AND o.state = 'pending' AND o.kind = 'PAY' "
                + "AND NOT EXISTS (SELECT 1 FROM remote_escrow r WHERE r.op_id = o.op_id) LIMIT 1")) {
            ps.setString(1, lane);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return null;
                }
                return new Unsent(new SettleOps.Op(rs.getString(1), rs.getString(2), rs.getString(3),
                        SettleOps.Kind.PAY, rs.getLong(4), rs.getString(5), rs.getString(6), "pending", rs.getInt(7)),
                        rs.getLong(8), rs.getString(9));
            }
        }
    }

    private static boolean hasRemote(Connection c, String opId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT 1 FROM remote_escrow WHERE op_id = ?")) {
            ps.setString(1, opId);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next();
            }
        }
    }

    private static boolean busy(Connection c, String lane) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT 1 FROM settle_op WHERE escrow_id = ? AND state IN "
                + "('pending', 'sent', 'unknown') LIMIT 1")) {
            ps.setString(1, lane);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next();
            }
        }
    }

    /** [owed micro-USDC (rounded once), paid or being paid]. */
    private static long[] owed(Connection c, String payer, String worker) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT owed_pico / 1000000, paid FROM postpay "
                + "WHERE payer = ? AND worker = ?")) {
            ps.setString(1, payer);
            ps.setString(2, worker);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? new long[] {rs.getLong(1), rs.getLong(2)} : new long[] {0, 0};
            }
        }
    }

    /** A post-pay payment finished: mark the requests it covered, clear arrears. */
    static void paid(Connection c, SettleOps.Op op) throws SQLException {
        long cumulative = Long.parseLong(op.opId().substring(op.opId().lastIndexOf(':') + 1));
        try (PreparedStatement ps = c.prepareStatement("UPDATE settlement SET state = 'released', released = cost "
                + "WHERE escrow_id = ? AND state = 'batched' AND cum_target <= ?")) {
            ps.setString(1, lane(op.payer(), op.payee()));
            ps.setLong(2, cumulative);
            ps.executeUpdate();
        }
        try (PreparedStatement ps = c.prepareStatement("UPDATE postpay SET arrears = 0 WHERE payer = ? AND worker = ?")) {
            ps.setString(1, op.payer());
            ps.setString(2, op.payee());
            ps.executeUpdate();
        }
        clearProblem(c, op.payer(), op.payee());
    }

    /**
     * A payment was refused: the amount is owed again, and the payer x worker stops until the timer's retry
     * goes through: in arrears for {@code insufficient_balance}, misconfigured for anything else.
     */
    static void refused(Connection c, SettleOps.Op op, String code, String message, long now) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE postpay SET arrears = ?, paid = paid - ? "
                + "WHERE payer = ? AND worker = ?")) {
            ps.setInt(1, code.equals("insufficient_balance") ? 1 : 2);
            ps.setLong(2, op.target());
            ps.setString(3, op.payer());
            ps.setString(4, op.payee());
            ps.executeUpdate();
        }
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO postpay_problem(payer, worker, code, message, at_ms) "
                + "VALUES (?, ?, ?, ?, ?) ON CONFLICT(payer, worker) DO UPDATE SET code = excluded.code, "
                + "message = excluded.message, at_ms = excluded.at_ms")) {
            ps.setString(1, op.payer());
            ps.setString(2, op.payee());
            ps.setString(3, code);
            ps.setString(4, message);
            ps.setLong(5, now);
            ps.executeUpdate();
        }
    }

    /** An operator established that a set-aside payment created nothing: its amount is owed again. */
    static void notPaid(Connection c, String payer, String worker, long amount) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE postpay SET paid = paid - ? WHERE payer = ? AND worker = ?")) {
            ps.setLong(1, amount);
            ps.setString(2, payer);
            ps.setString(3, worker);
            ps.executeUpdate();
        }
    }

    private static void clearProblem(Connection c, String payer, String worker) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("DELETE FROM postpay_problem WHERE payer = ? AND worker = ?")) {
            ps.setString(1, payer);
            ps.setString(2, worker);
            ps.executeUpdate();
        }
    }
}
