package dev.tollgate.escrow.ledger;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/** Read-only questions to the book: statements and the conservation check. */
final class LedgerQueries {
    private LedgerQueries() {
    }

    private static long one(Connection c, String sql, String... args) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < args.length; i++) {
                ps.setString(i + 1, args[i]);
            }
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : 0;
            }
        }
    }

    static Statement statement(Connection c, String agent) throws SQLException {
        long balance = one(c, "SELECT COALESCE(balance, 0) FROM account WHERE id = ?", agent);
        long held = one(c, "SELECT COALESCE(SUM(locked - released - refunded), 0) FROM escrow WHERE payer = ? "
                + "AND status = 'locked'", agent);
        long released = one(c, "SELECT COALESCE(SUM(released), 0) FROM escrow WHERE payer = ?", agent);
        // Every refund returns what an escrow held to its payer; a hold opened and emptied in one commit has no
        // transfers of its own (NetTransfers), so refunds are read from the escrow rows.
        long refunded = one(c, "SELECT COALESCE(SUM(refunded), 0) FROM escrow WHERE payer = ?", agent);
        long earned = one(c, "SELECT COALESCE(SUM(amount), 0) FROM transfer WHERE credit = ? AND kind IN "
                + "('release', 'bonus', 'tip', 'per_call', 'excess')", agent);
        long bonusEarned = one(c, "SELECT COALESCE(SUM(amount), 0) FROM transfer WHERE credit = ? AND kind = 'bonus'",
                agent);
        long bonusPaidNet = one(c, "SELECT COALESCE(SUM(amount), 0) FROM transfer WHERE debit = ? AND kind IN "
                + "('bonus', 'tip', 'fee', 'referral')", agent);
        // Per-call payments and owed payments for work served (cost beyond a hold, a late overage unit), paid
        // straight from the balance, fee included, count as spent, like releases.
        long perCallNet = one(c, "SELECT COALESCE(SUM(amount), 0) FROM transfer WHERE debit = ? AND kind IN "
                + "('per_call', 'excess')", agent);
        long escrowFees = one(c, "SELECT COALESCE(SUM(fee), 0) FROM escrow WHERE payer = ?", agent);
        long directFees = one(c, "SELECT COALESCE(SUM(amount), 0) FROM transfer WHERE debit = ? AND kind IN "
                + "('fee', 'referral')", agent);
        long referral = one(c, "SELECT COALESCE(SUM(amount), 0) FROM transfer WHERE credit = ? AND kind IN "
                + "('referral', 'escrow_referral')", agent);
        long credited = one(c, "SELECT COALESCE(SUM(amount), 0) FROM transfer WHERE credit = ? AND kind = 'credit'",
                agent);
        // The fees of per-call and owed payments are debited from the payer like a bonus's: not bonuses, so not
        // counted there.
        long perCallFees = one(c, "SELECT COALESCE(SUM(amount), 0) FROM transfer WHERE debit = ? AND kind IN "
                + "('fee', 'referral') AND (op_id LIKE 'call:%' OR op_id LIKE 'excess:%')", agent);
        return new Statement(agent, balance, held, released + bonusPaidNet + perCallNet, refunded, earned,
                bonusPaidNet - perCallFees, bonusEarned, escrowFees + directFees, referral, credited);
    }

    static Conservation conservation(Connection c, int feeBps) throws SQLException {
        long minted = -one(c, "SELECT COALESCE(balance, 0) FROM account WHERE id = ?", LedgerBook.MINT);
        long agents = one(c, "SELECT COALESCE(SUM(balance), 0) FROM account WHERE id NOT LIKE '@%' "
                + "AND id NOT LIKE 'escrow:%'");
        long escrows = one(c, "SELECT COALESCE(SUM(balance), 0) FROM account WHERE id LIKE 'escrow:%'");
        long fees = one(c, "SELECT COALESCE(balance, 0) FROM account WHERE id = ?", LedgerBook.FEES);
        long mismatched = one(c, "SELECT COUNT(*) FROM account a WHERE a.balance != "
                + "(SELECT COALESCE(SUM(amount), 0) FROM transfer WHERE credit = a.id) - "
                + "(SELECT COALESCE(SUM(amount), 0) FROM transfer WHERE debit = a.id)");
        // A hold opened and emptied in one transaction has no account row: its balance is zero.
        long badEscrows = one(c, "SELECT COUNT(*) FROM escrow e LEFT JOIN account a ON a.id = 'escrow:' || e.id "
                + "WHERE COALESCE(a.balance, 0) != e.locked - e.released - e.refunded "
                + "OR e.released + e.refunded > e.locked");
        long carry = 0;
        try (PreparedStatement ps = c.prepareStatement("SELECT COALESCE(SUM((paid * ?) % 10000), 0) FROM fee_pair")) {
            ps.setLong(1, feeBps);
            try (ResultSet rs = ps.executeQuery()) {
                carry = rs.next() ? rs.getLong(1) : 0;
            }
        }
        return new Conservation(minted, agents, escrows, fees, mismatched == 0 && badEscrows == 0, carry);
    }
}
