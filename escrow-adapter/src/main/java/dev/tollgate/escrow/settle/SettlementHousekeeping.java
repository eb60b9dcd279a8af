package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.ledger.EmbeddedLedger;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;

/**
 * The settler's timer work, in one transaction per tick: embedded escrows past their expiry, a retry of post-pay
 * arrears each minute, stream budgets' time-based batches, remote operations to look up again, the archive of old
 * operations each minute and quality scores past their deadline. It also keeps the count of unfinished settlement
 * operations that the metrics report from memory.
 *
 * <p>Threading: {@link #run} on the settler thread; {@link #count} inside any transaction; {@link #pendingOps} from
 * any thread.
 */
final class SettlementHousekeeping implements Runnable {
    private final Database db;
    private final Clock clock;
    private final EmbeddedLedger embedded;
    private final PostPayPolicy postPay;
    private final StreamBudgetPolicy streamBudget;
    private final RemoteOperations remoteOps;
    private final QualityGate quality;
    private long lastArrearsRetry;
    private long lastArchive;
    private volatile long pendingOps;

    /**
     * @param embedded  the embedded ledger when it is the escrow backend (its expiries run here), else null
     * @param postPay   the post-pay policy when the backend pays after the fact, else null
     * @param remoteOps a remote backend's operations to refresh, else null
     */
    SettlementHousekeeping(Database db, Clock clock, EmbeddedLedger embedded, PostPayPolicy postPay,
                           StreamBudgetPolicy streamBudget, RemoteOperations remoteOps, QualityGate quality) {
        this.db = db;
        this.clock = clock;
        this.embedded = embedded;
        this.postPay = postPay;
        this.streamBudget = streamBudget;
        this.remoteOps = remoteOps;
        this.quality = quality;
    }

    @Override
    public void run() {
        long now = clock.millis();
        if (embedded != null) {
            embedded.expireDue();
        }
        db.transaction(c -> {
            if (postPay != null && now - lastArrearsRetry >= 60_000) {
                lastArrearsRetry = now;
                postPay.retryArrears(c, now);
            }
            streamBudget.flushDue(c, now);
            count(c);
            if (remoteOps != null) {
                remoteOps.refresh(c, now);
            }
            if (now - lastArchive >= 60_000) {
                lastArchive = now;
                SettleOps.archive(c, now - 3_600_000L);
            }
            quality.sweepDeadlines(c, now);
            return null;
        });
    }

    /** Counts the unfinished settlement operations (pending, sent or unknown) for {@link #pendingOps}. */
    void count(Connection c) throws SQLException {
        pendingOps = unfinished(c);
    }

    static long unfinished(Connection c) throws SQLException {
        return SettleOps.count(c, "pending") + SettleOps.count(c, "unknown") + SettleOps.count(c, "sent");
    }

    /** Unfinished settlement operations at the last count. */
    long pendingOps() {
        return pendingOps;
    }
}
