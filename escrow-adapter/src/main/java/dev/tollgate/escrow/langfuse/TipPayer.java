package dev.tollgate.escrow.langfuse;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.escrow.settle.SettlementService;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Tips on feedback: a feedback score (the account's {@code tips.score_name}) on a trace pays the worker of the
 * trace's latest request the tip its value maps to in {@code tips.table}, from the payer's balance (a ledger
 * payment of kind {@code tip}), at most {@code max_per_trace} per trace in all, and once per score id: the tip
 * row, the payment and the {@code pf_tip_usdc} score written back to the trace commit together, keyed by the
 * score's id. A score changed later (same id) pays nothing more.
 *
 * <p>Threading: the bridge's thread, inside its transaction.
 */
final class TipPayer {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final SettlementService settlement;
    private final Map<String, AccountLangfuse> accounts;
    private final AtomicLong tipsPaid = new AtomicLong();

    TipPayer(SettlementService settlement, Map<String, AccountLangfuse> accounts) {
        this.settlement = settlement;
        this.accounts = accounts;
    }

    /**
     * Considers one score on a known trace ({@code requests} as {@link ScoreDecisions#requestsOf}); the outcome
     * to record ({@code tipped}, {@code no_tip}, {@code tip_capped}, {@code tipped_before}), or null when the
     * score is not a feedback score of the trace's payer.
     */
    String consider(Connection c, String scoreId, String traceId, String name, BigDecimal value,
                    List<String[]> requests, long now) throws SQLException {
        String[] latest = null;
        AccountLangfuse.Tips t = null;
        for (String[] r : requests) {
            AccountLangfuse.Tips rt = AccountLangfuse.of(accounts, r[1]).tips();
            if (rt != null && rt.scoreName().equals(name)) {
                latest = r;
                t = rt;
            }
        }
        if (t == null) {
            return null;
        }
        long tip = t.tipFor(value);
        if (tip <= 0) {
            return "no_tip";
        }
        long paid = paidOn(c, traceId);
        tip = Math.min(tip, t.maxPerTraceMicros() - paid);
        if (tip <= 0) {
            return "tip_capped";
        }
        try (PreparedStatement ps = c.prepareStatement("INSERT OR IGNORE INTO langfuse_tip(score_id, trace_id, "
                + "request_id, payer, worker, micros, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)")) {
            ps.setString(1, scoreId);
            ps.setString(2, traceId);
            ps.setString(3, latest[0]);
            ps.setString(4, latest[1]);
            ps.setString(5, latest[2]);
            ps.setLong(6, tip);
            ps.setLong(7, now);
            if (ps.executeUpdate() == 0) {
                return "tipped_before";
            }
        }
        settlement.tip(c, scoreId, latest[1], latest[2], tip, now);
        Outbox.enqueue(c, tipScoreId(scoreId), traceId, tipScoreEvent(scoreId, traceId, latest[2], tip, value, now),
                now);
        try (PreparedStatement ps = c.prepareStatement("UPDATE langfuse_sync SET recheck = 1 WHERE request_id = ?")) {
            ps.setString(1, latest[0]);
            ps.executeUpdate();
        }
        tipsPaid.incrementAndGet();
        return "tipped";
    }

    static String tipScoreId(String scoreId) {
        return "tollgate-tip-" + scoreId;
    }

    /** The {@code pf_tip_usdc} score on the trace (a score-create event whose score id is deterministic). */
    private static String tipScoreEvent(String scoreId, String traceId, String worker, long micros, BigDecimal value,
                                        long now) {
        ObjectNode body = JSON.createObjectNode();
        body.put("id", tipScoreId(scoreId));
        body.put("traceId", traceId);
        body.put("name", "pf_tip_usdc");
        body.put("value", TraceSnapshot.usdc(micros));
        body.put("dataType", "NUMERIC");
        body.put("comment", "Tollgate tip for feedback score " + scoreId + " = " + value.toPlainString());
        body.putObject("metadata").put("pf_payment_type", "user_tip").put("pf_agent_wallet", worker)
                .put("feedback_score_id", scoreId);
        return TraceSnapshot.event(tipScoreId(scoreId), "score-create", body, now);
    }

    private static long paidOn(Connection c, String traceId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT COALESCE(SUM(micros), 0) FROM langfuse_tip WHERE trace_id = ?")) {
            ps.setString(1, traceId);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : 0;
            }
        }
    }

    long tipsPaid() {
        return tipsPaid.get();
    }
}
