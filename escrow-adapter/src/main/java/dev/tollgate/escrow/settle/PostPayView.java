package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.db.Database;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/**
 * What each payer owes each worker under post-pay settlement (the Purple Flea backend), from Tollgate's own
 * records: {@code accrued = paid in escrows + pending + unknown + owed}, exactly, in micro-USDC.
 *
 * <p>Threading: stateless; each call runs one read transaction.
 */
public final class PostPayView {
    /**
     * One payer x worker.
     *
     * @param accruedMicros     cost of the requests served (bonuses included), rounded down once
     * @param paidMicros        in escrows created and released whole
     * @param pendingMicros     in a payment not yet finished
     * @param unknownMicros     in payments whose create was sent and never answered (for an operator)
     * @param owedMicros        not yet in any payment (below the minimum, or waiting for the payer)
     * @param belowMinimum      whether {@code owedMicros} waits only for the service's minimum (0.10)
     * @param feeMicros         the service's commission on the released escrows (1% each, rounded half-up)
     * @param referralMicros    of which went to the payer's referrer (15% of each commission)
     * @param escrows           escrows released
     * @param standing          {@code ok}, {@code arrears} (insufficient balance) or {@code misconfigured}
     * @param problem           the service's code when not ok, else null
     */
    public record Pair(String payer, String worker, long accruedMicros, long paidMicros, long pendingMicros,
                       long unknownMicros, long owedMicros, boolean belowMinimum, long feeMicros, long referralMicros,
                       long escrows, String standing, String problem) {
        /** What the worker received: paid minus the service's fee. */
        public long workerReceivedMicros() {
            return paidMicros - feeMicros;
        }
    }

    private PostPayView() {
    }

    /** Whether the database holds post-pay settlement (a data directory of the Purple Flea backend). */
    public static boolean any(Database db) {
        return db.transaction(c -> {
            try (PreparedStatement ps = c.prepareStatement("SELECT 1 FROM postpay LIMIT 1");
                 ResultSet rs = ps.executeQuery()) {
                return rs.next();
            }
        });
    }

    /** Pairs where {@code agent} is the payer or the worker (every pair when null), ordered by payer and worker. */
    public static List<Pair> pairs(Database db, String agent, long minimumMicros) {
        return db.transaction(c -> pairs(c, agent, minimumMicros));
    }

    static List<Pair> pairs(Connection c, String agent, long minimumMicros) throws SQLException {
        List<Pair> out = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT p.payer, p.worker, p.owed_pico / 1000000, p.paid, "
                + "p.arrears, q.code, "
                + "(SELECT COALESCE(SUM(e.amount), 0) FROM purpleflea_escrow e WHERE e.payer = p.payer "
                + "AND e.worker = p.worker AND e.status = 'released'), "
                + "(SELECT COALESCE(SUM(e.commission), 0) FROM purpleflea_escrow e WHERE e.payer = p.payer "
                + "AND e.worker = p.worker AND e.status = 'released'), "
                + "(SELECT COALESCE(SUM(e.referral), 0) FROM purpleflea_escrow e WHERE e.payer = p.payer "
                + "AND e.worker = p.worker AND e.status = 'released'), "
                + "(SELECT COUNT(*) FROM purpleflea_escrow e WHERE e.payer = p.payer AND e.worker = p.worker "
                + "AND e.status = 'released'), "
                + "(SELECT COALESCE(SUM(o.target), 0) FROM settle_op o WHERE o.kind = 'PAY' AND o.payer = p.payer "
                + "AND o.payee = p.worker AND o.op_id LIKE 'postpay:%' AND o.state IN ('pending', 'sent')), "
                + "(SELECT COALESCE(SUM(o.target), 0) FROM settle_op o WHERE o.kind = 'PAY' AND o.payer = p.payer "
                + "AND o.payee = p.worker AND o.op_id LIKE 'postpay:%' AND o.state = 'unknown') "
                + "FROM postpay p LEFT JOIN postpay_problem q ON q.payer = p.payer AND q.worker = p.worker "
                + "WHERE ? IS NULL OR p.payer = ? OR p.worker = ? ORDER BY p.payer, p.worker")) {
            ps.setString(1, agent);
            ps.setString(2, agent);
            ps.setString(3, agent);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    long accrued = rs.getLong(3);
                    long owed = accrued - rs.getLong(4);
                    int arrears = rs.getInt(5);
                    String standing = arrears == 0 ? "ok" : arrears == 1 ? "arrears" : "misconfigured";
                    out.add(new Pair(rs.getString(1), rs.getString(2), accrued, rs.getLong(7), rs.getLong(11),
                            rs.getLong(12), owed, arrears == 0 && owed > 0 && owed < minimumMicros, rs.getLong(8),
                            rs.getLong(9), rs.getLong(10), standing, arrears == 0 ? null
                            : rs.getString(6) != null ? rs.getString(6) : "insufficient_balance"));
                }
            }
        }
        return out;
    }

    /** A released or known escrow of this backend by the service's id, from Tollgate's records, or null. */
    public record Escrow(String escrowId, String opId, String payer, String worker, long amountMicros,
                         long feeMicros, long referralMicros, String status) {
    }

    public static Escrow escrow(Database db, String escrowId) {
        return db.transaction(c -> {
            try (PreparedStatement ps = c.prepareStatement("SELECT escrow_id, op_id, payer, worker, amount, commission, "
                    + "referral, status FROM purpleflea_escrow WHERE escrow_id = ?")) {
                ps.setString(1, escrowId);
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? new Escrow(rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4),
                            rs.getLong(5), rs.getLong(6), rs.getLong(7), rs.getString(8)) : null;
                }
            }
        });
    }
}
