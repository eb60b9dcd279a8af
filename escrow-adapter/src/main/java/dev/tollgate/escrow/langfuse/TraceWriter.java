package dev.tollgate.escrow.langfuse;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.settle.SettlementConfig;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Keeps each traced request's Langfuse trace and generation up to date with its settlement. Journaled usage
 * rows with a trace id are picked up in journal order (a cursor on the {@code usage} rowid kept in
 * {@code langfuse_state}) into {@code langfuse_sync}; every watched request's snapshot ({@link TraceSnapshot}) is
 * compared with the one last written, and a new one is queued in the outbox as events with deterministic ids
 * ({@code tollgate-<request>-v<version>-trace|gen}) in the same transaction that records it. So each change
 * (settled, released by score, refunded, bonus, tip) is written once, a restart neither loses nor repeats one,
 * and the request's own path never waits for any of it. A request is watched for {@code watch_hours} after it
 * was journaled; once final it is compared at each score poll for another hour, then only when a tip marks it.
 *
 * <p>Threading: the bridge's thread only.
 */
final class TraceWriter {
    private static final String CURSOR = "usage_rowid";
    /** How long after its settlement a request is still compared at each score poll (late bonuses). */
    static final long RECHECK_FINAL_MS = 3_600_000L;
    /** Requests compared per transaction. */
    static final int CHUNK = 256;

    private final Database db;
    private final Clock clock;
    private final SettlementConfig settlement;
    private final Map<String, AccountLangfuse> accounts;
    private final long watchMillis;

    TraceWriter(Database db, Clock clock, SettlementConfig settlement, Map<String, AccountLangfuse> accounts,
                long watchMillis) {
        this.db = db;
        this.clock = clock;
        this.settlement = settlement;
        this.accounts = accounts;
        this.watchMillis = watchMillis;
    }

    /**
     * Picks up newly journaled traced requests and writes every change since the last call; returns changes.
     * Requests not yet final and requests a tip marked are compared on every pass; with {@code recentFinal}
     * (the bridge's score polls) also those settled in the last {@link #RECHECK_FINAL_MS} (late bonuses). The
     * work is cut into short transactions of {@link #CHUNK} requests, so the journal's group commits (which the
     * end of each response waits for) never queue behind a long pass.
     */
    int run(boolean recentFinal) {
        long now = clock.millis();
        db.transaction(c -> {
            pickUp(c, now);
            return null;
        });
        long finalSince = recentFinal ? now - RECHECK_FINAL_MS : Long.MAX_VALUE;
        int changes = 0;
        long after = 0;
        while (true) {
            long from = after;
            long[] chunk = db.transaction(c -> {
                List<Watched> ws = watched(c, now, finalSince, from);
                long n = 0;
                for (Watched w : ws) {
                    if (write(c, w, now)) {
                        n++;
                    } else if (w.recheck()) {
                        clearRecheck(c, w.facts().requestId());
                    }
                }
                return new long[] {ws.size(), ws.isEmpty() ? from : ws.get(ws.size() - 1).rowid(), n};
            });
            changes += (int) chunk[2];
            if (chunk[0] < CHUNK) {
                return changes;
            }
            after = chunk[1];
        }
    }

    private static void clearRecheck(Connection c, String requestId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE langfuse_sync SET recheck = 0 WHERE request_id = ?")) {
            ps.setString(1, requestId);
            ps.executeUpdate();
        }
    }

    private void pickUp(Connection c, long now) throws SQLException {
        long cursor = Long.parseLong(LangfuseState.get(c, CURSOR, "0"));
        long last = cursor;
        try (PreparedStatement ps = c.prepareStatement("SELECT rowid, request_id, trace_id FROM usage WHERE rowid > ? "
                + "AND trace_id IS NOT NULL ORDER BY rowid LIMIT 1000");
             PreparedStatement ins = c.prepareStatement("INSERT OR IGNORE INTO langfuse_sync(request_id, trace_id, "
                     + "version, watch_until_ms) VALUES (?, ?, 0, ?)")) {
            ps.setLong(1, cursor);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    last = rs.getLong(1);
                    ins.setString(1, rs.getString(2));
                    ins.setString(2, rs.getString(3));
                    ins.setLong(3, now + watchMillis);
                    ins.executeUpdate();
                }
            }
        }
        if (last != cursor) {
            LangfuseState.put(c, CURSOR, Long.toString(last));
        }
    }

    /** A watched request: its facts and what was last written. */
    private record Watched(long rowid, TraceSnapshot.Facts facts, int version, String snapshot, long settledAtMs,
                           boolean recheck) {
    }

    private List<Watched> watched(Connection c, long now, long finalSince, long afterRowid) throws SQLException {
        List<Watched> out = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT s.request_id, u.trace_id, u.trace_attrs, u.account, "
                + "u.worker, u.model, u.prompt, u.completion, u.started_ms, u.duration_us, st.policy, st.escrow_id, "
                + "st.state, COALESCE(st.reserved, 0), COALESCE(st.released, 0), COALESCE(st.refunded, 0), "
                + "COALESCE(st.bonus, 0), (SELECT COALESCE(SUM(micros), 0) FROM langfuse_tip t WHERE t.request_id = "
                + "s.request_id), s.version, s.snapshot, COALESCE(s.settled_at_ms, 0), s.rowid, s.recheck "
                + "FROM langfuse_sync s "
                + "JOIN usage u ON u.request_id = s.request_id LEFT JOIN settlement st ON st.request_id = s.request_id "
                + "WHERE s.request_id IN (SELECT request_id FROM langfuse_sync WHERE settled_at_ms IS NULL UNION ALL "
                + "SELECT request_id FROM langfuse_sync WHERE settled_at_ms >= ? UNION ALL "
                + "SELECT request_id FROM langfuse_sync WHERE recheck = 1) AND s.watch_until_ms >= ? AND s.rowid > ? "
                + "ORDER BY s.rowid LIMIT " + CHUNK)) {
            // Each term has its index, so a pass reads the requests in flight, not the day's history.
            ps.setLong(1, finalSince);
            ps.setLong(2, now);
            ps.setLong(3, afterRowid);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    String account = rs.getString(4);
                    TraceSnapshot.Facts f = new TraceSnapshot.Facts(rs.getString(1),
                            TraceColumns.link(rs.getString(2), rs.getString(3)), account, rs.getString(5),
                            rs.getString(6), rs.getLong(7), rs.getLong(8), rs.getLong(9), rs.getLong(10),
                            rs.getString(11), rs.getString(12), rs.getString(13), rs.getLong(14), rs.getLong(15),
                            rs.getLong(16), rs.getLong(17), rs.getLong(18),
                            settlement.policyOf(account).referrer());
                    out.add(new Watched(rs.getLong(22), f, rs.getInt(19), rs.getString(20), rs.getLong(21),
                            rs.getInt(23) == 1));
                }
            }
        }
        return out;
    }

    private boolean write(Connection c, Watched w, long now) throws SQLException {
        TraceSnapshot.Facts f = w.facts();
        long settledAt = w.settledAtMs() > 0 ? w.settledAtMs() : TraceSnapshot.isFinal(f.state()) ? now : 0;
        int threshold = thresholdOf(f.account());
        TraceSnapshot snap = new TraceSnapshot(f, settlement.priceOf(f.model()), threshold, settledAt);
        String key = snap.key();
        if (key.equals(w.snapshot())) {
            return false;
        }
        int version = w.version() + 1;
        String prefix = "tollgate-" + f.requestId() + "-v" + version;
        String lane = f.trace().traceId();
        Outbox.enqueue(c, prefix + "-trace", lane, snap.traceEvent(prefix + "-trace", now), now);
        Outbox.enqueue(c, prefix + "-gen", lane, snap.generationEvent(prefix + "-gen", version == 1, now), now);
        try (PreparedStatement ps = c.prepareStatement("UPDATE langfuse_sync SET version = ?, snapshot = ?, "
                + "settled_at_ms = ?, recheck = 0 WHERE request_id = ?")) {
            ps.setInt(1, version);
            ps.setString(2, key);
            if (settledAt > 0) {
                ps.setLong(3, settledAt);
            } else {
                ps.setNull(3, java.sql.Types.INTEGER);
            }
            ps.setString(4, f.requestId());
            ps.executeUpdate();
        }
        return true;
    }

    /**
     * Forgets what can no longer change: sent events a day old, requests past their watch, scores older than
     * both the watch and the poll's overlap (a poll never returns them again). Tips are kept forever (once per
     * score id).
     */
    void prune(long overlapMillis) {
        long now = clock.millis();
        db.transaction(c -> {
            try (PreparedStatement a = c.prepareStatement("DELETE FROM langfuse_outbox WHERE state = 'done' "
                    + "AND created_ms < ?");
                 PreparedStatement b = c.prepareStatement("DELETE FROM langfuse_sync WHERE watch_until_ms < ?");
                 PreparedStatement d = c.prepareStatement("DELETE FROM langfuse_score WHERE seen_ms < ?")) {
                a.setLong(1, now - 86_400_000L);
                a.executeUpdate();
                b.setLong(1, now);
                b.executeUpdate();
                d.setLong(1, now - Math.max(watchMillis, overlapMillis) - 86_400_000L);
                d.executeUpdate();
            }
            return null;
        });
    }

    /** The quality threshold shown in {@code pf_quality_threshold}: the account's, when its release is gated. */
    private int thresholdOf(String account) {
        var q = settlement.policyOf(account).quality();
        if (!q.gate()) {
            return -1;
        }
        AccountLangfuse a = AccountLangfuse.of(accounts, account);
        return a.thresholdBps() >= 0 ? a.thresholdBps() : q.partialBps();
    }
}
