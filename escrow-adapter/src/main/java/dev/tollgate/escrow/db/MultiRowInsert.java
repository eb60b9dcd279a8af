package dev.tollgate.escrow.db;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.List;

/**
 * Inserts many rows of one table with a few multi-row {@code INSERT ... VALUES (...), (...)} statements instead of
 * one statement per row: a group commit's settlement and escrow rows go to SQLite in statements of up to
 * {@value #MAX_ROWS} rows, which saves the per-statement step, reset and driver round trip of all but one row in
 * each. The statements come in sizes that are powers of two (32, 16, ..., 1), so a table needs at most six compiled
 * statements in the connection's statement cache whatever the number of rows. A row that breaks a constraint fails
 * its whole statement, and so the transaction, as a single-row insert would fail it.
 *
 * <p>Threading: immutable; {@link #insert} runs inside the caller's transaction, on its thread.
 *
 * @param <T> a row as the caller holds it
 */
public final class MultiRowInsert<T> {
    /** Rows in the largest statement (SQLite allows 32,766 parameters; a 14-column row needs 448 here). */
    static final int MAX_ROWS = 32;

    /** Binds one row's columns, numbered from {@code first}. */
    @FunctionalInterface
    public interface Binder<T> {
        void bind(PreparedStatement ps, int first, T row) throws SQLException;
    }

    private final int columns;
    private final Binder<T> binder;
    // sql[k] inserts 2^k rows; the same String instances every time, so the statement cache finds them at once.
    private final String[] sql;

    /**
     * @param head    the statement up to {@code VALUES}, e.g. {@code "INSERT INTO t(a, b)"}
     * @param columns how many parameters one row has
     */
    public MultiRowInsert(String head, int columns, Binder<T> binder) {
        this.columns = columns;
        this.binder = binder;
        String one = "(" + "?, ".repeat(columns - 1) + "?)";
        int sizes = Integer.numberOfTrailingZeros(MAX_ROWS) + 1;
        this.sql = new String[sizes];
        for (int k = 0; k < sizes; k++) {
            StringBuilder s = new StringBuilder(head).append(" VALUES ");
            for (int i = 0; i < 1 << k; i++) {
                s.append(i == 0 ? "" : ", ").append(one);
            }
            sql[k] = s.toString();
        }
    }

    /** Inserts {@code rows} in their order. */
    public void insert(Connection c, List<T> rows) throws SQLException {
        int at = 0;
        int n = rows.size();
        while (at < n) {
            int k = Math.min(sql.length - 1, 31 - Integer.numberOfLeadingZeros(n - at));
            int count = 1 << k;
            try (PreparedStatement ps = c.prepareStatement(sql[k])) {
                for (int i = 0; i < count; i++) {
                    binder.bind(ps, 1 + i * columns, rows.get(at + i));
                }
                ps.executeUpdate();
            }
            at += count;
        }
    }
}
