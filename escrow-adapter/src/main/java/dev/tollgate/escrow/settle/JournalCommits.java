package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.db.AppendLog;
import dev.tollgate.escrow.db.Database;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.agent.LatencyHistogram;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The journal's commits ({@link SettlementJournal} appends and hands over; this writes): each group of batches in
 * one SQLite transaction (the intents, the usage records with the settlement they imply, the embedded ledger's
 * operations due, the log position they cover), or, if that fails, entry by entry, each with its watermark. An
 * intent that fails alone is written as refused ({@link IntentRefusals}); a record that fails alone is quarantined
 * (kept verbatim, counted, its stream-budget reservation given back). At start-up, {@link #replay} applies the log's
 * entries past the watermark.
 *
 * <p>Threading: {@link #apply} on the journal's writer thread (and {@link #replay} at start-up, before it starts);
 * the counters, {@link #quarantined} and the lag histogram from any thread.
 */
final class JournalCommits {
    private static final Logger LOG = Logger.getLogger(JournalCommits.class.getName());

    private final Database db;
    private final Clock clock;
    private final Settler settler;
    private final boolean remoteBackend;
    private final SettlementJournal.Step<Object> intentStep;
    private final SettlementJournal.Step<UsageRecord> recordStep;
    private final SettlementJournal.Step<Void> afterRecords;
    private final IntentRefusals refusals;
    private final StreamBudgetPolicy streamBudget;
    private final AppendLog log;
    private long lastTrim = -4096; // The first commit after a start trims what earlier runs left.
    private final AtomicLong journaled = new AtomicLong();
    private final AtomicLong quarantinedCount = new AtomicLong();
    private final AtomicLong intentFailures = new AtomicLong();
    private final Set<String> quarantinedIds = ConcurrentHashMap.newKeySet();
    /** Milliseconds from a response's end to the commit that journaled and settled its record. */
    private final LatencyHistogram settlementLag = new LatencyHistogram(3_600_000L);

    JournalCommits(Database db, Clock clock, Settler settler, boolean remoteBackend,
                   SettlementJournal.Step<Object> intentStep, SettlementJournal.Step<UsageRecord> recordStep,
                   SettlementJournal.Step<Void> afterRecords, IntentRefusals refusals, AppendLog log,
                   StreamBudgetPolicy streamBudget) {
        this.db = db;
        this.clock = clock;
        this.settler = settler;
        this.remoteBackend = remoteBackend;
        this.intentStep = intentStep;
        this.recordStep = (c, r, now) -> {
            refusals.checkRecorded(r.requestId());
            recordStep.write(c, r, now);
        };
        this.afterRecords = afterRecords;
        this.refusals = refusals;
        this.streamBudget = streamBudget;
        this.log = log;
    }

    /** At start-up: what the journal already holds. */
    void resume(long journaledBefore, long quarantinedBefore) {
        journaled.set(journaledBefore);
        quarantinedCount.set(quarantinedBefore);
    }

    /** Commits {@code work} in one transaction, or entry by entry if that fails. */
    void apply(List<JournalBatch> work) {
        long now = clock.millis();
        long watermark = -1;
        int records = 0;
        for (JournalBatch b : work) {
            watermark = Math.max(watermark, b.lastSeq());
            records += b.records().size();
        }
        long mark = watermark;
        try {
            db.transaction(c -> {
                for (JournalBatch b : work) {
                    for (Object intent : b.intents()) {
                        intentStep.write(c, intent, now);
                    }
                    for (UsageRecord r : b.records()) {
                        recordStep.write(c, r, now);
                    }
                }
                afterRecords.write(c, null, now);
                settler.runInline(c, now);
                JournalWatermark.set(c, mark);
                return null;
            });
            journaled.addAndGet(records);
            long committed = clock.millis();
            for (JournalBatch b : work) {
                for (UsageRecord r : b.records()) {
                    settled(r, committed);
                }
            }
        } catch (RuntimeException batchFailed) {
            LOG.log(Level.WARNING, "journal commit of " + records + " records failed; retrying entry by entry",
                    batchFailed);
            for (JournalBatch b : work) {
                applyOneByOne(b, now);
            }
        }
        if (remoteBackend) {
            // A remote backend's operations were queued: the settler carries them out. The embedded ledger's ran in
            // the transaction above; its settler only retries owed payments on its own timer.
            settler.wake();
        }
        if (log != null && watermark - lastTrim >= 4096) {
            lastTrim = watermark;
            log.trim(watermark);
        }
    }

    private void applyOneByOne(JournalBatch b, long now) {
        long seq = b.firstSeq();
        for (Object intent : b.intents()) {
            long mark = seq;
            try {
                db.transaction(c -> {
                    intentStep.write(c, intent, now);
                    afterRecords.write(c, null, now);
                    JournalWatermark.set(c, mark);
                    return null;
                });
            } catch (RuntimeException e) {
                intentFailures.incrementAndGet();
                LOG.log(Level.SEVERE, "ledger intent " + intent + " could not be written; writing its refusal", e);
                refuse(intent, mark, now);
            }
            seq = seq < 0 ? -1 : seq + 1;
        }
        for (UsageRecord r : b.records()) {
            long mark = seq;
            try {
                db.transaction(c -> {
                    recordStep.write(c, r, now);
                    afterRecords.write(c, null, now);
                    settler.runInline(c, now);
                    JournalWatermark.set(c, mark);
                    return null;
                });
                journaled.incrementAndGet();
                settled(r, clock.millis());
            } catch (RuntimeException e) {
                quarantinedCount.incrementAndGet();
                quarantinedIds.add(r.requestId());
                LOG.log(Level.SEVERE, "usage record " + r.requestId() + " quarantined", e);
                refusals.quarantined(r.requestId());
                db.transaction(c -> {
                    Recovery.quarantine(c, r, e, now);
                    streamBudget.quarantined(c, r, now);
                    JournalWatermark.set(c, mark);
                    return null;
                });
            }
            seq = seq < 0 ? -1 : seq + 1;
        }
    }

    private void settled(UsageRecord r, long committedMillis) {
        settlementLag.record(committedMillis - (r.startEpochMillis() + r.durationNanos() / 1_000_000L));
    }

    /**
     * Writes the refusal of an intent that could not be written, with the intent's watermark, and gives back what its
     * admission reserved in memory. If even the refusal cannot be written, the records admitted against the intent
     * find nothing to settle against and are quarantined.
     */
    private void refuse(Object intent, long mark, long now) {
        try {
            db.transaction(c -> {
                refusals.write(c, intent, now);
                afterRecords.write(c, null, now);
                JournalWatermark.set(c, mark);
                return null;
            });
        } catch (RuntimeException e) {
            LOG.log(Level.SEVERE, "the refusal of ledger intent " + intent + " could not be written either; the "
                    + "request's record will be quarantined", e);
            refusals.unrecorded(intent);
        } finally {
            refusals.release(intent);
        }
    }

    /**
     * At start-up, before the writer starts: applies the log's entries past the watermark (what the process died
     * holding), in order, in group commits. {@code beforeApply} sees each entry first (to restore the in-memory
     * reservations they were admitted against).
     */
    int replay(Consumer<Object> beforeApply) {
        if (log == null) {
            return 0;
        }
        long after = db.transaction(JournalWatermark::get);
        List<JournalBatch> work = new ArrayList<>();
        int[] count = {0};
        log.replay(after, (seq, payload) -> {
            Object entry = JournalEntries.read(payload);
            beforeApply.accept(entry);
            JournalBatch one = entry instanceof JournalEntries.LoggedUsage u
                    ? new JournalBatch(List.of(), List.of(u.record()), seq, 0, 0)
                    : new JournalBatch(List.of(entry), List.of(), seq, 0, 0);
            work.add(one);
            count[0]++;
            if (work.size() >= JournalWriter.MAX_RECORDS_PER_COMMIT) {
                apply(new ArrayList<>(work));
                work.clear();
            }
        });
        if (!work.isEmpty()) {
            apply(work);
        }
        return count[0];
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

    /** Milliseconds from responses' ends to the commits that settled their records. */
    LatencyHistogram settlementLag() {
        return settlementLag;
    }

    /** Ledger intents that could not be written even alone (written as refused, logged). */
    long intentFailures() {
        return intentFailures.get();
    }
}
