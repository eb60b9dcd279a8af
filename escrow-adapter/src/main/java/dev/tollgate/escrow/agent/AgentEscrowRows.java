package dev.tollgate.escrow.agent;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@code agent_escrow} table joined with the ledger's {@code escrow} rows. Stateless; runs inside the
 * caller's transaction.
 */
final class AgentEscrowRows {
    private static final String SELECT = "SELECT a.id, a.payer, a.payee, a.memo, a.auto_release_hours, "
            + "a.release_at_ms, a.on_expiry, a.created_ms, e.locked, e.released, e.refunded, e.status, a.seq "
            + "FROM agent_escrow a JOIN escrow e ON e.id = a.id ";

    private AgentEscrowRows() {
    }

    static void insert(Connection c, String id, String payer, String payee, String memo, long hours,
                       long releaseAt, String onExpiry, long now) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO agent_escrow(id, payer, payee, memo, "
                + "auto_release_hours, release_at_ms, on_expiry, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")) {
            ps.setString(1, id);
            ps.setString(2, payer);
            ps.setString(3, payee);
            ps.setString(4, memo);
            ps.setLong(5, hours);
            ps.setLong(6, releaseAt);
            ps.setString(7, onExpiry);
            ps.setLong(8, now);
            ps.executeUpdate();
        }
    }

    static AgentEscrow find(Connection c, String id) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(SELECT + "WHERE a.id = ?")) {
            ps.setString(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? row(rs) : null;
            }
        }
    }

    /** A page of an agent's escrows (as payer or payee), newest first, below {@code beforeSeq}. */
    static AgentEscrowPage list(Connection c, String agent, long beforeSeq, int limit) throws SQLException {
        List<AgentEscrow> out = new ArrayList<>();
        long last = 0;
        boolean more = false;
        try (PreparedStatement ps = c.prepareStatement(SELECT + "WHERE (a.payer = ? OR a.payee = ?) AND a.seq < ? "
                + "ORDER BY a.seq DESC LIMIT ?")) {
            ps.setString(1, agent);
            ps.setString(2, agent);
            ps.setLong(3, beforeSeq);
            ps.setInt(4, limit + 1);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    if (out.size() == limit) {
                        more = true;
                        break;
                    }
                    out.add(row(rs));
                    last = rs.getLong(13);
                }
            }
        }
        return new AgentEscrowPage(out, more ? last : -1);
    }

    /** Open escrows whose auto-release time has come: {id, on_expiry}. */
    static List<String[]> due(Connection c, long now) throws SQLException {
        List<String[]> out = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT id, on_expiry FROM agent_escrow WHERE open = 1 AND release_at_ms <= ?")) {
            ps.setLong(1, now);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new String[] {rs.getString(1), rs.getString(2)});
                }
            }
        }
        return out;
    }

    static void markClosed(Connection c, String id) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE agent_escrow SET open = 0 WHERE id = ?")) {
            ps.setString(1, id);
            ps.executeUpdate();
        }
    }

    private static AgentEscrow row(ResultSet rs) throws SQLException {
        return new AgentEscrow(rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4), rs.getLong(5),
                rs.getLong(6), rs.getString(7), rs.getLong(8), rs.getLong(9), rs.getLong(10), rs.getLong(11),
                rs.getString(12));
    }
}
