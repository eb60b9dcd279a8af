package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.db.ForeignCommits;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The {@code budget} rows held in memory by the database's one writer, written back once per transaction. A row is
 * read from the database on first use and then kept; a transaction changes it in memory ({@link #changed}), and
 * just before it commits ({@link Database#beforeCommit}) each changed row is written once. A group commit of a
 * thousand usage records against one budget thus costs one write of that budget instead of a read and an update
 * per record.
 *
 * <p>What keeps memory and the database equal: every write to the table goes through here; a query over the table
 * ({@link #select}) first writes what this transaction changed; a rollback forgets every row the transaction changed
 * (read again, as the database kept it) and runs the undo actions registered with {@link #onRollback} (in reverse
 * order), which put back what the caller mirrors beside the rows; at the first use in each transaction
 * {@code PRAGMA data_version} tells whether another connection committed since, in which case everything is
 * forgotten. Closed and failed budgets are forgotten at commit, so memory holds the budgets in use, not history.
 *
 * <p>Threading: under the database's transaction lock only (the journal's writer, the ledger executor, the settler's
 * timers: whichever holds the transaction).
 */
final class BudgetBook {
    /** A budget row: one escrow of a payer x worker pair and what it accrued. */
    static final class Row {
        final String escrowId;
        final String payer;
        final String worker;
        /** What the escrow holds (0 for a budget whose lock the ledger refused: all its cost is paid directly). */
        long locked;
        long costPico;
        long releasedTarget;
        long callsSince;
        long tokensSince;
        long lastReleaseMs;
        String state;

        Row(String escrowId, String payer, String worker, long locked, long costPico, long releasedTarget,
            long callsSince, long tokensSince, long lastReleaseMs, String state) {
            this.escrowId = escrowId;
            this.payer = payer;
            this.worker = worker;
            this.locked = locked;
            this.costPico = costPico;
            this.releasedTarget = releasedTarget;
            this.callsSince = callsSince;
            this.tokensSince = tokensSince;
            this.lastReleaseMs = lastReleaseMs;
            this.state = state;
        }

        /** The cost accrued so far, rounded once, up to what the escrow holds. */
        long costMicros() {
            return Math.min(locked, costPico / 1_000_000L);
        }

        boolean finished() {
            return state.equals("closed") || state.equals("failed");
        }
    }

    private static final String COLUMNS = "escrow_id, payer, worker, locked, cost_pico, released_target, "
            + "calls_since, tokens_since, last_release_ms, state";

    private final Database db;
    private final Map<String, Row> rows = new HashMap<>();
    private final Set<Row> changedRows = new LinkedHashSet<>();
    private final Set<Row> unwritten = new LinkedHashSet<>();
    private final List<Runnable> undo = new ArrayList<>();
    private final ForeignCommits foreignCommits;

    BudgetBook(Database db) {
        this.db = db;
        this.foreignCommits = new ForeignCommits(db);
    }

    /** Hooks the write-back into the current transaction; forgets everything when another connection committed. */
    private void begin(Connection c) throws SQLException {
        ForeignCommits.Entry entry = foreignCommits.enter(c);
        if (entry == ForeignCommits.Entry.AGAIN) {
            return;
        }
        if (entry == ForeignCommits.Entry.FIRST_AFTER_FOREIGN_COMMIT) {
            rows.clear();
        }
        db.beforeCommit(this::write);
        db.whenDone(this::committed, this::rolledBack);
    }

    /** A budget by its escrow id, or null when there is none. */
    Row row(Connection c, String escrowId) throws SQLException {
        begin(c);
        Row r = rows.get(escrowId);
        if (r == null) {
            List<Row> read = query(c, "SELECT " + COLUMNS + " FROM budget WHERE escrow_id = ?", escrowId);
            if (read.isEmpty()) {
                return null;
            }
            r = read.get(0);
            rows.put(escrowId, r);
        }
        return r;
    }

    /**
     * The budgets a query over the table names ({@code where}: the condition, with {@code ?} for {@code args}), as
     * the rows in memory: this transaction's changes are written first, so the condition sees them.
     */
    List<Row> select(Connection c, String where, String... args) throws SQLException {
        begin(c);
        write(c);
        List<Row> out = new ArrayList<>();
        for (Row read : query(c, "SELECT " + COLUMNS + " FROM budget WHERE " + where, args)) {
            Row kept = rows.putIfAbsent(read.escrowId, read);
            out.add(kept != null ? kept : read);
        }
        return out;
    }

    /** A new budget, inserted at the commit (no read: its escrow id is new). */
    Row insert(Connection c, String escrowId, String payer, String worker, long locked, long now, String state)
            throws SQLException {
        begin(c);
        Row r = new Row(escrowId, payer, worker, locked, 0, 0, 0, 0, now, state);
        rows.put(escrowId, r);
        changed(r);
        return r;
    }

    /** Marks a row changed in this transaction (written once before it commits). */
    void changed(Row r) {
        changedRows.add(r);
        unwritten.add(r);
    }

    /**
     * Inside a transaction that used this book: {@code action} runs if it rolls back (after its rows were
     * forgotten; actions run in reverse order of registration).
     */
    void onRollback(Runnable action) {
        undo.add(action);
    }

    private Void write(Connection c) throws SQLException {
        for (Row r : unwritten) {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO budget(" + COLUMNS + ") VALUES (?, ?, ?, ?, ?, "
                    + "?, ?, ?, ?, ?) ON CONFLICT(escrow_id) DO UPDATE SET locked = excluded.locked, "
                    + "cost_pico = excluded.cost_pico, released_target = excluded.released_target, "
                    + "calls_since = excluded.calls_since, tokens_since = excluded.tokens_since, "
                    + "last_release_ms = excluded.last_release_ms, state = excluded.state")) {
                ps.setString(1, r.escrowId);
                ps.setString(2, r.payer);
                ps.setString(3, r.worker);
                ps.setLong(4, r.locked);
                ps.setLong(5, r.costPico);
                ps.setLong(6, r.releasedTarget);
                ps.setLong(7, r.callsSince);
                ps.setLong(8, r.tokensSince);
                ps.setLong(9, r.lastReleaseMs);
                ps.setString(10, r.state);
                ps.executeUpdate();
            }
        }
        unwritten.clear();
        return null;
    }

    private void committed() {
        for (Row r : changedRows) {
            if (r.finished()) {
                rows.remove(r.escrowId, r);
            }
        }
        clear();
    }

    private void rolledBack() {
        // The database kept what it had before the transaction: read those rows again when next needed.
        for (Row r : changedRows) {
            rows.remove(r.escrowId, r);
        }
        Runnable[] actions = undo.toArray(new Runnable[0]);
        clear();
        for (int i = actions.length - 1; i >= 0; i--) {
            actions[i].run();
        }
    }

    private void clear() {
        changedRows.clear();
        unwritten.clear();
        undo.clear();
    }

    private static List<Row> query(Connection c, String sql, String... args) throws SQLException {
        List<Row> out = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < args.length; i++) {
                ps.setString(i + 1, args[i]);
            }
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new Row(rs.getString(1), rs.getString(2), rs.getString(3), rs.getLong(4), rs.getLong(5),
                            rs.getLong(6), rs.getLong(7), rs.getLong(8), rs.getLong(9), rs.getString(10)));
                }
            }
        }
        return out;
    }
}
