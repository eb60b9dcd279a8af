package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.db.Database;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Logger;

/**
 * Quality scores and what they pay: with gating, a per-request release waits for its score (or the deadline and
 * the default score) and pays by tier; above the bonus threshold the worker earns the quality bonus. A score that
 * arrives after the deadline decided a request changes nothing and is counted.
 *
 * <p>Threading: {@link #score} from any thread (admin API, gRPC); {@link #sweepDeadlines} on the settler thread
 * inside its transaction. Both go through the database's transaction lock.
 */
final class QualityGate {
    private static final Logger LOG = Logger.getLogger(QualityGate.class.getName());
    /** Marks a request the deadline decided, so a later score cannot pay a bonus the decision did not include. */
    private static final String DEADLINE_SCORE = "deadline";

    private final SettlementConfig cfg;
    private final Database db;
    private final PerRequestPolicy perRequest;
    private final Settler settler;
    private final Clock clock;
    private final AtomicLong lateScores = new AtomicLong();

    QualityGate(SettlementConfig cfg, Database db, PerRequestPolicy perRequest, Settler settler, Clock clock) {
        this.cfg = cfg;
        this.db = db;
        this.perRequest = perRequest;
        this.settler = settler;
        this.clock = clock;
    }

    /** Requests whose deadline passed without a score are decided with their account's default score. */
    void sweepDeadlines(Connection c, long now) throws SQLException {
        for (String id : awaitingScore(c, now)) {
            SettlementRows.Row row = SettlementRows.find(c, id);
            SettlementRows.update(c, id, "score = ?", DEADLINE_SCORE);
            applyScore(c, row, cfg.policyOf(row.account()).quality().defaultScoreBps(), now);
        }
    }

    long lateScores() {
        return lateScores.get();
    }

    private static List<String> awaitingScore(Connection c, long now) throws SQLException {
        List<String> ids = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT request_id FROM settlement WHERE state = 'awaiting_score' AND deadline_ms <= ?")) {
            ps.setLong(1, now);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    ids.add(rs.getString(1));
                }
            }
        }
        return ids;
    }

    /** See {@link SettlementService#score}. */
    boolean score(String requestId, String score) {
        int bps = SettlementConfigReader.bps(score);
        boolean known = db.transaction(c -> {
            SettlementRows.Row row = SettlementRows.find(c, requestId);
            if (row == null) {
                return false;
            }
            if (DEADLINE_SCORE.equals(row.score())) {
                lateScores.incrementAndGet();
                LOG.warning("score " + score + " for " + requestId + " arrived after its quality deadline settled it "
                        + "with the default score; it changes nothing");
                return true;
            }
            SettlementRows.update(c, requestId, "score = ?", score);
            if (row.state().equals("awaiting_score")) {
                applyScore(c, row, bps, clock.millis());
            } else {
                qualityBonus(c, row, bps, clock.millis());
            }
            return true;
        });
        settler.wake();
        return known;
    }

    private void applyScore(Connection c, SettlementRows.Row row, int bps, long now) throws SQLException {
        AccountPolicy.Quality q = cfg.policyOf(row.account()).quality();
        long pay = bps >= q.fullBps() ? row.cost() : bps >= q.partialBps() ? row.cost() * q.partialPct() / 100 : 0;
        perRequest.settle(c, row, pay, now);
        qualityBonus(c, row, bps, now);
    }

    private void qualityBonus(Connection c, SettlementRows.Row row, int bps, long now) throws SQLException {
        AccountPolicy.Quality q = cfg.policyOf(row.account()).quality();
        if (bps > q.bonusAboveBps() && row.cost() > 0 && q.bonusPct() > 0) {
            SettleOps.insert(c, "bonus-quality:" + row.requestId(), row.requestId(), row.escrowId() + ":bonus",
                    SettleOps.Kind.PAY, row.cost() * q.bonusPct() / 100, row.account(), row.worker(), now);
        }
    }
}
