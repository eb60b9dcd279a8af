package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.langfuse.TraceColumns;
import dev.tollgate.metering.UsageRecord;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/** The {@code usage} table: every metered request, once (the request id is the primary key, forever). */
final class UsageJournal {
    private UsageJournal() {
    }

    /** Inserts a record; false when a record with this request id was journaled before. */
    static boolean insert(Connection c, UsageRecord r, String worker) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT OR IGNORE INTO usage(request_id, account, worker, "
                + "upstream, model, route, stream, prompt, completion, source, max_tokens, started_ms, ttft_us, "
                + "duration_us, generation_us, upstream_us, outcome, status, trace_id, trace_attrs) VALUES (?, ?, ?, ?, ?, "
                + "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
            ps.setString(1, r.requestId());
            ps.setString(2, r.account());
            ps.setString(3, worker);
            ps.setString(4, r.upstream());
            ps.setString(5, r.model());
            ps.setString(6, r.route().name());
            ps.setInt(7, r.streamed() ? 1 : 0);
            ps.setLong(8, r.promptTokens());
            ps.setLong(9, r.completionTokens());
            ps.setString(10, r.usageSource().wireName());
            ps.setLong(11, r.maxTokens());
            ps.setLong(12, r.startEpochMillis());
            ps.setLong(13, r.ttftNanos() < 0 ? -1 : r.ttftNanos() / 1000);
            ps.setLong(14, r.durationNanos() / 1000);
            ps.setLong(15, r.generationNanos() < 0 ? -1 : r.generationNanos() / 1000);
            ps.setLong(16, r.upstreamNanos() < 0 ? -1 : r.upstreamNanos() / 1000);
            ps.setString(17, r.outcome().wireName());
            ps.setInt(18, r.httpStatus());
            ps.setString(19, r.traceId());
            ps.setString(20, TraceColumns.attributes(r.trace()));
            return ps.executeUpdate() == 1;
        }
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
