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
 * whole). A payment refused for insufficient balance puts the payer in arrears: its next requests get 402
 * until a retried payment goes through.
 *
 * <p>Threading: inside the journal's or the settler's transaction.
 */
final class PostPayPolicy {
    static final String NAME = "post_pay";
    static final String LANE = "postpay:";

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
        try (PreparedStatement ps = c.prepareStatement("SELECT arrears FROM postpay WHERE payer = ? AND worker = ?")) {
            ps.setString(1, payer);
            ps.setString(2, worker);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() && rs.getInt(1) == 1;
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

    /** Issues a payment for what is owed and unpaid when it reaches the minimum. */
    void payIfDue(Connection c, String payer, String worker, long now) throws SQLException {
        long[] owed = owed(c, payer, worker);
        long unpaid = owed[0] - owed[1];
        if (unpaid < minimum) {
            return;
        }
        SettleOps.insert(c, lane(payer, worker) + ":" + now + ":" + owed[0], null, lane(payer, worker), SettleOps.Kind.PAY, unpaid,
                payer, worker, now);
        try (PreparedStatement ps = c.prepareStatement("UPDATE postpay SET paid = ? WHERE payer = ? AND worker = ?")) {
            ps.setLong(1, owed[0]);
            ps.setString(2, payer);
            ps.setString(3, worker);
            ps.executeUpdate();
        }
    }

    /** Payers in arrears get their owed amount asked for again (a payment may now go through). */
    void retryArrears(Connection c, long now) throws SQLException {
        java.util.List<String[]> rows = new java.util.ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT payer, worker FROM postpay WHERE arrears = 1");
             ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                rows.add(new String[] {rs.getString(1), rs.getString(2)});
            }
        }
        for (String[] r : rows) {
            payIfDue(c, r[0], r[1], now);
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
            ps.setString(1, op.escrowId());
            ps.setLong(2, cumulative);
            ps.executeUpdate();
        }
        try (PreparedStatement ps = c.prepareStatement("UPDATE postpay SET arrears = 0 WHERE payer = ? AND worker = ?")) {
            ps.setString(1, op.payer());
            ps.setString(2, op.payee());
            ps.executeUpdate();
        }
    }

    /** A payment was refused for lack of funds: the amount is owed again and the payer is in arrears. */
    static void refused(Connection c, SettleOps.Op op) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE postpay SET arrears = 1, paid = paid - ? "
                + "WHERE payer = ? AND worker = ?")) {
            ps.setLong(1, op.target());
            ps.setString(2, op.payer());
            ps.setString(3, op.payee());
            ps.executeUpdate();
        }
    }
}
