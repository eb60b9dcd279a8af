package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.agent.UsageListener;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The group commit: each batch the metering thread hands over becomes one transaction holding the ledger intents
 * admitted since the last one (locks, dev credits, progress checkpoints), then the batch's usage records with the
 * settlement they imply, then (embedded ledger) the operations due. If the batch fails, the intents are committed
 * alone and the records one by one; a record that fails alone is quarantined (kept verbatim, counted) so the
 * others keep their durability.
 *
 * <p>Threading: {@link #onUsage} on the metering thread (and, for tests and shutdown, on a caller: it is
 * synchronized); {@link #quarantined} and the counters from any thread.
 */
final class SettlementJournal implements UsageListener {
    private static final Logger LOG = Logger.getLogger(SettlementJournal.class.getName());

    /** Writes one intent or one usage record inside the journal's transaction. */
    @FunctionalInterface
    interface Step<T> {
        void write(Connection c, T item, long now) throws SQLException;
    }

    private final Database db;
    private final Clock clock;
    private final LedgerIntents intents;
    private final Settler settler;
    private final boolean remoteBackend;
    private final Step<Object> intentStep;
    private final Step<UsageRecord> recordStep;
    private final List<Object> carried = new ArrayList<>();
    private final AtomicLong journaled = new AtomicLong();
    private final AtomicLong quarantinedCount = new AtomicLong();
    private final Set<String> quarantinedIds = ConcurrentHashMap.newKeySet();

    SettlementJournal(Database db, Clock clock, LedgerIntents intents, Settler settler, boolean remoteBackend,
                      Step<Object> intentStep, Step<UsageRecord> recordStep) {
        this.db = db;
        this.clock = clock;
        this.intents = intents;
        this.settler = settler;
        this.remoteBackend = remoteBackend;
        this.intentStep = intentStep;
        this.recordStep = recordStep;
    }

    /** At start-up: what the journal already holds. */
    void resume(long journaledBefore, long quarantinedBefore) {
        journaled.set(journaledBefore);
        quarantinedCount.set(quarantinedBefore);
    }

    @Override
    public synchronized void onUsage(List<UsageRecord> batch) {
        long now = clock.millis();
        intents.drainTo(carried);
        if (batch.isEmpty() && carried.isEmpty()) {
            return;
        }
        try {
            db.transaction(c -> {
                writeIntents(c, now);
                for (UsageRecord r : batch) {
                    recordStep.write(c, r, now);
                }
                settler.runInline(c, now);
                return null;
            });
            carried.clear();
            journaled.addAndGet(batch.size());
        } catch (RuntimeException batchFailed) {
            LOG.log(Level.WARNING, "journal batch of " + batch.size() + " failed; retrying record by record",
                    batchFailed);
            db.transaction(c -> {
                writeIntents(c, now);
                return null;
            });
            carried.clear();
            for (UsageRecord r : batch) {
                try {
                    db.transaction(c -> {
                        recordStep.write(c, r, now);
                        settler.runInline(c, now);
                        return null;
                    });
                    journaled.incrementAndGet();
                } catch (RuntimeException e) {
                    quarantinedCount.incrementAndGet();
                    quarantinedIds.add(r.requestId());
                    LOG.log(Level.SEVERE, "usage record " + r.requestId() + " quarantined", e);
                    db.transaction(c -> Recovery.quarantine(c, r, e, now));
                }
            }
        }
        if (remoteBackend) {
            // A remote backend's operations were queued: the settler carries them out. The embedded ledger's ran in
            // the transaction above; its settler only retries owed payments on its own timer.
            settler.wake();
        }
    }

    private void writeIntents(Connection c, long now) throws SQLException {
        for (Object intent : carried) {
            intentStep.write(c, intent, now);
        }
    }

    /** Whether this request's record was quarantined; asked once, the answer is then forgotten. */
    boolean quarantined(String requestId) {
        return !quarantinedIds.isEmpty() && quarantinedIds.remove(requestId);
    }

    long journaledCount() {
        return journaled.get();
    }

    long quarantinedCount() {
        return quarantinedCount.get();
    }
}
