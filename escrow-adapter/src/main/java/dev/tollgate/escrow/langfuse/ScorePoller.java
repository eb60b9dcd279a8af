package dev.tollgate.escrow.langfuse;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tollgate.escrow.db.Database;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Instant;
import java.util.Collection;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Logger;

/**
 * Reads the scores Tollgate acts on from {@code GET /api/public/v3/scores}: filtered by name, from the
 * high-water mark minus an overlap window (an upserted score keeps its old {@code timestamp}, so only the
 * overlap catches it), following {@code meta.cursor} until it is absent. Each score is kept in
 * {@code langfuse_score}, deduplicated on (id, updatedAt): a score seen before with the same {@code updatedAt}
 * is skipped, a changed one replaces the old row and is considered again. The high-water mark (the newest
 * score {@code timestamp} seen, Langfuse's clock) advances only after a poll read every page. Values are read
 * as exact decimals, never binary floats.
 *
 * <p>Threading: the bridge's thread only.
 */
final class ScorePoller {
    private static final Logger LOG = Logger.getLogger(ScorePoller.class.getName());
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS);
    private static final String HWM = "scores_hwm_ms";
    static final int PAGE = 100;
    private static final int MAX_PAGES = 1000;

    private final Database db;
    private final LangfuseHttp http;
    private final Clock clock;
    private final long overlapMillis;
    private final AtomicLong failures = new AtomicLong();
    private final AtomicLong read = new AtomicLong();

    ScorePoller(Database db, LangfuseHttp http, Clock clock, long overlapMillis) {
        this.db = db;
        this.http = http;
        this.clock = clock;
        this.overlapMillis = overlapMillis;
    }

    /** One poll for scores with these names; the number of new or changed scores, or -1 when a call failed. */
    int poll(Collection<String> names) {
        if (names.isEmpty()) {
            return 0;
        }
        long now = clock.millis();
        long hwm = Long.parseLong(db.transaction(c -> LangfuseState.get(c, HWM, Long.toString(now))));
        long from = Math.max(0, hwm - overlapMillis);
        String base = "/api/public/v3/scores?name=" + enc(String.join(",", names)) + "&fromTimestamp="
                + enc(Instant.ofEpochMilli(from).toString()) + "&limit=" + PAGE;
        String cursor = null;
        long newest = hwm;
        int changed = 0;
        for (int page = 0; page < MAX_PAGES; page++) {
            LangfuseHttp.Answer a = http.get(cursor == null ? base : base + "&cursor=" + enc(cursor));
            if (!(a instanceof LangfuseHttp.Ok ok)) {
                failures.incrementAndGet();
                LOG.warning("reading Langfuse scores failed: " + a + "; retried at the next poll");
                return -1;
            }
            JsonNode root;
            try {
                root = JSON.readTree(ok.body());
            } catch (java.io.IOException e) {
                failures.incrementAndGet();
                LOG.warning("unreadable Langfuse scores page: " + e.getMessage());
                return -1;
            }
            JsonNode data = root.path("data");
            long[] newestSeen = {newest};
            int c0 = db.transaction(c -> {
                int n = 0;
                for (JsonNode s : data) {
                    n += store(c, s, now, newestSeen);
                }
                return n;
            });
            changed += c0;
            newest = newestSeen[0];
            JsonNode next = root.path("meta").path("cursor");
            cursor = next.isTextual() && !next.textValue().isEmpty() ? next.textValue() : null;
            if (cursor == null) {
                break;
            }
        }
        long mark = newest;
        db.transaction(c -> {
            LangfuseState.put(c, HWM, Long.toString(mark));
            return null;
        });
        read.addAndGet(changed);
        return changed;
    }

    /** Keeps one score; 1 when it is new or changed, 0 when seen before (same id and updatedAt) or unusable. */
    private static int store(Connection c, JsonNode s, long now, long[] newest) throws SQLException {
        String id = s.path("id").asText("");
        String trace = s.path("traceId").isTextual() ? s.path("traceId").textValue() : null;
        String name = s.path("name").asText("");
        JsonNode v = s.path("value");
        if (id.isEmpty() || trace == null || trace.isEmpty() || !v.isNumber()) {
            return 0; // Session or dataset scores, or categorical values: nothing Tollgate pays on.
        }
        try {
            newest[0] = Math.max(newest[0], Instant.parse(s.path("timestamp").asText()).toEpochMilli());
        } catch (RuntimeException e) {
            // A score without a readable timestamp is still used; it does not move the high-water mark.
        }
        String updatedAt = s.path("updatedAt").asText("");
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO langfuse_score(score_id, updated_at, trace_id, name, "
                + "value, seen_ms) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(score_id) DO UPDATE SET "
                + "updated_at = excluded.updated_at, trace_id = excluded.trace_id, name = excluded.name, "
                + "value = excluded.value, seen_ms = excluded.seen_ms, outcome = NULL "
                + "WHERE langfuse_score.updated_at != excluded.updated_at")) {
            ps.setString(1, id);
            ps.setString(2, updatedAt);
            ps.setString(3, trace);
            ps.setString(4, name);
            ps.setString(5, v.decimalValue().toPlainString());
            ps.setLong(6, now);
            return ps.executeUpdate();
        }
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    long failureCount() {
        return failures.get();
    }

    long scoresRead() {
        return read.get();
    }
}
