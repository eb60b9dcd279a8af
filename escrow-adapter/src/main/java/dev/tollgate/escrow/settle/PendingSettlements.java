package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.db.Database;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * Settlement rows of the per-request locks written in the current group commit, kept in memory until the commit's
 * usage records are settled ({@link #write}, before the commit's settlement operations run): a short request,
 * locked and settled in one commit, has its row inserted once in its final state instead of inserted, read back and
 * updated. A row whose record comes in a later commit is written with this one and found in the table then.
 *
 * <p>Threading: the journal's writer only, inside its transaction; a rollback forgets the rows not yet written.
 */
final class PendingSettlements {
    private final Database db;
    private final Map<String, SettlementRows.Row> rows = new LinkedHashMap<>();
    private boolean hooked;

    PendingSettlements(Database db) {
        this.db = db;
    }

    void add(SettlementRows.Row row) {
        if (!hooked) {
            hooked = true;
            db.whenDone(this::forget, this::forget);
        }
        rows.put(row.requestId(), row);
    }

    /** The request's row: pending, or from the table (null when it has none). */
    SettlementRows.Row find(Connection c, String requestId) throws SQLException {
        SettlementRows.Row r = rows.get(requestId);
        return r != null ? r : SettlementRows.find(c, requestId);
    }

    /**
     * Changes a pending row in memory ({@code change}), or a written one in the table ({@code set} and
     * {@code args}, as {@link SettlementRows#update}).
     */
    void update(Connection c, String requestId, UnaryOperator<SettlementRows.Row> change, String set, Object... args)
            throws SQLException {
        SettlementRows.Row r = rows.get(requestId);
        if (r != null) {
            rows.put(requestId, change.apply(r));
        } else {
            SettlementRows.update(c, requestId, set, args);
        }
    }

    /** Inserts the pending rows, in their current state. */
    void write(Connection c, long now) throws SQLException {
        for (SettlementRows.Row r : rows.values()) {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO settlement(request_id, account, worker, "
                    + "policy, escrow_id, state, reserved, cost, released, refunded, bonus, score, deadline_ms, "
                    + "updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
                ps.setString(1, r.requestId());
                ps.setString(2, r.account());
                ps.setString(3, r.worker());
                ps.setString(4, r.policy());
                ps.setString(5, r.escrowId());
                ps.setString(6, r.state());
                ps.setLong(7, r.reserved());
                ps.setLong(8, r.cost());
                ps.setLong(9, r.released());
                ps.setLong(10, r.refunded());
                ps.setLong(11, r.bonus());
                ps.setString(12, r.score());
                if (r.deadlineMs() > 0) {
                    ps.setLong(13, r.deadlineMs());
                } else {
                    ps.setNull(13, java.sql.Types.INTEGER);
                }
                ps.setLong(14, now);
                ps.executeUpdate();
            }
        }
        rows.clear();
    }

    private void forget() {
        rows.clear();
        hooked = false;
    }
}
