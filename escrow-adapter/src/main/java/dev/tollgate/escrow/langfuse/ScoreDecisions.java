package dev.tollgate.escrow.langfuse;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.settle.SettlementService;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Logger;

/**
 * Acts on the scores {@link ScorePoller} kept. Quality: each request waiting for its score (state
 * {@code awaiting_score}) of an account whose {@code quality.source} is {@code langfuse} is decided with the
 * average of the named scores on its trace, through the settlement's own quality gate (pays by tier, refunds
 * below the threshold). A quality score that reaches a trace whose requests were all decided already (by an
 * earlier score or by the deadline's default) changes nothing: it is counted as late and logged. Tips are
 * {@link TipPayer}'s.
 *
 * <p>Threading: the bridge's thread only.
 */
final class ScoreDecisions {
    private static final Logger LOG = Logger.getLogger(ScoreDecisions.class.getName());

    private final Database db;
    private final SettlementService settlement;
    private final Map<String, AccountLangfuse> accounts;
    private final TipPayer tips;
    private final Clock clock;
    private final AtomicLong late = new AtomicLong();
    private final AtomicLong decided = new AtomicLong();

    ScoreDecisions(Database db, SettlementService settlement, Map<String, AccountLangfuse> accounts, TipPayer tips,
                   Clock clock) {
        this.db = db;
        this.settlement = settlement;
        this.accounts = accounts;
        this.tips = tips;
        this.clock = clock;
    }

    /** Decides what the kept scores decide; returns the number of requests released or refunded. */
    int apply() {
        long now = clock.millis();
        Map<String, String> scores = db.transaction(c -> decisions(c));
        int n = 0;
        for (Map.Entry<String, String> e : scores.entrySet()) {
            if (settlement.score(e.getKey(), e.getValue())) {
                n++;
            }
        }
        decided.addAndGet(n);
        boolean tipped = db.transaction(c -> sortRest(c, now));
        if (tipped) {
            settlement.wakeSettler();
        }
        return n;
    }

    /** Requests awaiting a Langfuse score that has arrived: request id to the average score. */
    private Map<String, String> decisions(Connection c) throws SQLException {
        Map<String, String> out = new LinkedHashMap<>();
        List<String[]> waiting = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT st.request_id, st.account, u.trace_id FROM settlement st "
                + "JOIN usage u ON u.request_id = st.request_id WHERE st.state = 'awaiting_score' "
                + "AND u.trace_id IS NOT NULL");
             ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                waiting.add(new String[] {rs.getString(1), rs.getString(2), rs.getString(3)});
            }
        }
        for (String[] w : waiting) {
            AccountLangfuse a = AccountLangfuse.of(accounts, w[1]);
            if (!a.scoresFromLangfuse()) {
                continue;
            }
            List<BigDecimal> values = values(c, w[2], a.qualityScoreName());
            if (values.isEmpty()) {
                continue;
            }
            BigDecimal sum = values.stream().reduce(BigDecimal.ZERO, BigDecimal::add);
            BigDecimal avg = sum.divide(BigDecimal.valueOf(values.size()), 4, RoundingMode.DOWN);
            if (avg.signum() < 0 || avg.compareTo(BigDecimal.ONE) > 0) {
                LOG.warning("Langfuse score '" + a.qualityScoreName() + "' on trace " + w[2] + " averages " + avg
                        + ", outside 0..1; request " + w[0] + " waits for its deadline");
                mark(c, w[2], a.qualityScoreName(), "out_of_range");
                continue;
            }
            out.put(w[0], avg.toPlainString());
            mark(c, w[2], a.qualityScoreName(), "applied");
        }
        return out;
    }

    /** Scores not used above: tips, late quality scores, scores of traces Tollgate does not know. */
    private boolean sortRest(Connection c, long now) throws SQLException {
        List<String[]> rest = new ArrayList<>();
        // Scores of traces Tollgate has not journaled yet wait aside ('pending_trace') until the trace appears, so
        // Langfuse's other traces never crowd out the ones that matter.
        try (PreparedStatement ps = c.prepareStatement("SELECT score_id, trace_id, name, value, seen_ms FROM "
                + "langfuse_score s WHERE outcome IS NULL OR (outcome = 'pending_trace' AND EXISTS (SELECT 1 FROM "
                + "usage u WHERE u.trace_id = s.trace_id)) ORDER BY rowid LIMIT 1000");
             ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                rest.add(new String[] {rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4),
                        Long.toString(rs.getLong(5))});
            }
        }
        boolean tipped = false;
        for (String[] s : rest) {
            List<String[]> requests = requestsOf(c, s[1]);
            String outcome;
            if (requests.isEmpty()) {
                outcome = "pending_trace";
            } else {
                outcome = tips.consider(c, s[0], s[1], s[2], new BigDecimal(s[3]), requests, now);
                if ("tipped".equals(outcome)) {
                    tipped = true;
                }
                if (outcome == null) {
                    outcome = lateOrIgnored(s, requests);
                }
            }
            if (outcome != null) {
                try (PreparedStatement ps = c.prepareStatement(
                        "UPDATE langfuse_score SET outcome = ? WHERE score_id = ?")) {
                    ps.setString(1, outcome);
                    ps.setString(2, s[0]);
                    ps.executeUpdate();
                }
            }
        }
        return tipped;
    }

    /** A quality score for a trace whose gated requests are all decided is late; anything else is not ours. */
    private String lateOrIgnored(String[] s, List<String[]> requests) {
        boolean gated = false;
        for (String[] r : requests) {
            AccountLangfuse a = AccountLangfuse.of(accounts, r[1]);
            if (a.scoresFromLangfuse() && a.qualityScoreName().equals(s[2])) {
                if ("awaiting_score".equals(r[3])) {
                    return null; // Decided on the next pass.
                }
                gated = true;
            }
        }
        if (!gated) {
            return "ignored";
        }
        late.incrementAndGet();
        LOG.warning("Langfuse score " + s[0] + " ('" + s[2] + "' = " + s[3] + ") on trace " + s[1] + " arrived after "
                + "its request(s) were settled; it changes nothing");
        return "late";
    }

    /** The trace's requests, oldest first: {request id, account, worker, settlement state or null}. */
    static List<String[]> requestsOf(Connection c, String traceId) throws SQLException {
        List<String[]> out = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT u.request_id, u.account, u.worker, st.state FROM usage u "
                + "LEFT JOIN settlement st ON st.request_id = u.request_id WHERE u.trace_id = ? ORDER BY u.rowid")) {
            ps.setString(1, traceId);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new String[] {rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4)});
                }
            }
        }
        return out;
    }

    private static List<BigDecimal> values(Connection c, String traceId, String name) throws SQLException {
        List<BigDecimal> out = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT value FROM langfuse_score WHERE trace_id = ? AND name = ? ORDER BY score_id")) {
            ps.setString(1, traceId);
            ps.setString(2, name);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new BigDecimal(rs.getString(1)));
                }
            }
        }
        return out;
    }

    private static void mark(Connection c, String traceId, String name, String outcome) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE langfuse_score SET outcome = ? WHERE trace_id = ? "
                + "AND name = ? AND outcome IS NULL")) {
            ps.setString(1, outcome);
            ps.setString(2, traceId);
            ps.setString(3, name);
            ps.executeUpdate();
        }
    }

    long lateCount() {
        return late.get();
    }

    long decidedCount() {
        return decided.get();
    }
}
