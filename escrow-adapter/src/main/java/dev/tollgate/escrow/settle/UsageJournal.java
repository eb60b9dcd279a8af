package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.db.MultiRowInsert;
import dev.tollgate.escrow.langfuse.TraceColumns;
import dev.tollgate.metering.UsageRecord;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.List;

/** The {@code usage} table: every metered request, once (the request id is the primary key, forever). */
final class UsageJournal {
    private static final String COLUMNS = "request_id, account, worker, upstream, model, route, stream, prompt, "
            + "completion, source, max_tokens, started_ms, ttft_us, duration_us, generation_us, upstream_us, outcome, "
            + "status, trace_id, trace_attrs";
    private static final int COUNT = 20;
    // A plain insert: used only for records that cannot have been journaled before (see PendingSettlements), so a
    // request id already in the table is not expected; if one is, the statement fails the commit instead of
    // ignoring the row, and the journal's one-by-one retry journals it through insert(), which ignores it.
    private static final MultiRowInsert<Row> PLAIN = new MultiRowInsert<>("INSERT INTO usage(" + COLUMNS + ")", COUNT,
            (ps, i, row) -> bind(ps, i, row.record(), row.worker()));

    /** A record with the worker its upstream belongs to, as its row is written. */
    record Row(UsageRecord record, String worker) {
    }

    private UsageJournal() {
    }

    /** Inserts a record; false when a record with this request id was journaled before. */
    static boolean insert(Connection c, UsageRecord r, String worker) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT OR IGNORE INTO usage(" + COLUMNS + ") VALUES (?, ?, ?, "
                + "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
            bind(ps, 1, r, worker);
            return ps.executeUpdate() == 1;
        }
    }

    /**
     * Inserts records that cannot have been journaled before, several rows per statement; a request id already in
     * the table fails the statement (and so the commit).
     */
    static void insertNew(Connection c, List<Row> rows) throws SQLException {
        PLAIN.insert(c, rows);
    }

    private static void bind(PreparedStatement ps, int i, UsageRecord r, String worker) throws SQLException {
        ps.setString(i, r.requestId());
        ps.setString(i + 1, r.account());
        ps.setString(i + 2, worker);
        ps.setString(i + 3, r.upstream());
        ps.setString(i + 4, r.model());
        ps.setString(i + 5, r.route().name());
        ps.setInt(i + 6, r.streamed() ? 1 : 0);
        ps.setLong(i + 7, r.promptTokens());
        ps.setLong(i + 8, r.completionTokens());
        ps.setString(i + 9, r.usageSource().wireName());
        ps.setLong(i + 10, r.maxTokens());
        ps.setLong(i + 11, r.startEpochMillis());
        ps.setLong(i + 12, r.ttftNanos() < 0 ? -1 : r.ttftNanos() / 1000);
        ps.setLong(i + 13, r.durationNanos() / 1000);
        ps.setLong(i + 14, r.generationNanos() < 0 ? -1 : r.generationNanos() / 1000);
        ps.setLong(i + 15, r.upstreamNanos() < 0 ? -1 : r.upstreamNanos() / 1000);
        ps.setString(i + 16, r.outcome().wireName());
        ps.setInt(i + 17, r.httpStatus());
        ps.setString(i + 18, r.traceId());
        ps.setString(i + 19, TraceColumns.attributes(r.trace()));
    }

    static UsageRecord find(Connection c, String requestId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT account, upstream, model, route, stream, prompt, "
                + "completion, source, max_tokens, started_ms, ttft_us, duration_us, generation_us, upstream_us, "
                + "outcome, status, trace_id, trace_attrs FROM usage WHERE request_id = ?")) {
            ps.setString(1, requestId);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return null;
                }
                return new UsageRecord(requestId, rs.getString(1), rs.getString(2), rs.getString(3),
                        dev.tollgate.metering.Route.valueOf(rs.getString(4)), rs.getInt(5) == 1, rs.getLong(6),
                        rs.getLong(7), dev.tollgate.metering.UsageSource.fromWireName(rs.getString(8)), rs.getLong(9),
                        rs.getLong(10), micros(rs.getLong(11)), rs.getLong(12) * 1000, micros(rs.getLong(13)),
                        micros(rs.getLong(14)), dev.tollgate.metering.Outcome.fromWireName(rs.getString(15)),
                        rs.getInt(16), TraceColumns.link(rs.getString(17), rs.getString(18)));
            }
        }
    }

    private static long micros(long us) {
        return us < 0 ? -1 : us * 1000;
    }

    static long count(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM usage");
             ResultSet rs = ps.executeQuery()) {
            return rs.next() ? rs.getLong(1) : 0;
        }
    }
}
