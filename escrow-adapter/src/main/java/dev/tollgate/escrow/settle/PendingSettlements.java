package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.db.MultiRowInsert;
import dev.tollgate.metering.UsageRecord;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * Settlement rows of the per-request locks written in the current group commit, kept in memory until the commit's
 * usage records are settled ({@link #write}, before the commit's settlement operations run): a short request,
 * locked and settled in one commit, has its row inserted once in its final state instead of inserted, read back and
 * updated. A row whose record comes in a later commit is written with this one and found in the table then. The
 * usage rows of such requests wait here too, and both go to their tables in multi-row statements.
 *
 * <p>Threading: the journal's writer only, inside its transaction; a rollback forgets the rows not yet written.
 */
final class PendingSettlements {
    private final Database db;
    private final Map<String, SettlementRows.Row> rows = new LinkedHashMap<>();
    private boolean hooked;
    private final MultiRowInsert<SettlementRows.Row> insert = new MultiRowInsert<>("INSERT INTO settlement("
            + "request_id, account, worker, policy, escrow_id, state, reserved, cost, released, refunded, bonus, score, "
            + "deadline_ms, updated_ms)", 14, this::bind);
    private final List<UsageJournal.Row> usage = new ArrayList<>();
    private long writtenAt; // The time of the commit being written: every row's updated_ms.

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

    /**
     * Whether the request's lock was written in this commit (its row is pending): then its usage record is new but
     * for a broken id source (the lock's own rows are plain inserts that would fail on an earlier request with the
     * same id), and its usage row can wait for {@link #addUsage} and go in with a plain multi-row insert. Should a
     * row with that id be in the table after all, that insert fails the commit, and the journal's entry-by-entry
     * retry (where nothing is pending) journals the record with {@code INSERT OR IGNORE}.
     */
    boolean lockedInThisCommit(String requestId) {
        return rows.containsKey(requestId);
    }

    /** A usage row to insert with this commit's settlement rows (see {@link #lockedInThisCommit}). */
    void addUsage(UsageRecord r, String worker) {
        usage.add(new UsageJournal.Row(r, worker));
    }

    /** Inserts the pending usage rows, then the settlement rows in their current state, several rows per statement. */
    void write(Connection c, long now) throws SQLException {
        if (!usage.isEmpty()) {
            UsageJournal.insertNew(c, usage);
            usage.clear();
        }
        if (rows.isEmpty()) {
            return;
        }
        writtenAt = now;
        insert.insert(c, new ArrayList<>(rows.values()));
        rows.clear();
    }

    private void bind(PreparedStatement ps, int i, SettlementRows.Row r) throws SQLException {
        ps.setString(i, r.requestId());
        ps.setString(i + 1, r.account());
        ps.setString(i + 2, r.worker());
        ps.setString(i + 3, r.policy());
        ps.setString(i + 4, r.escrowId());
        ps.setString(i + 5, r.state());
        ps.setLong(i + 6, r.reserved());
        ps.setLong(i + 7, r.cost());
        ps.setLong(i + 8, r.released());
        ps.setLong(i + 9, r.refunded());
        ps.setLong(i + 10, r.bonus());
        ps.setString(i + 11, r.score());
        if (r.deadlineMs() > 0) {
            ps.setLong(i + 12, r.deadlineMs());
        } else {
            ps.setNull(i + 12, java.sql.Types.INTEGER);
        }
        ps.setLong(i + 13, writtenAt);
    }

    private void forget() {
        rows.clear();
        usage.clear();
        hooked = false;
    }
}
