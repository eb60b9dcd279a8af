package dev.tollgate.escrow.settle;

import dev.tollgate.escrow.db.AppendLog;
import dev.tollgate.escrow.db.Database;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.agent.LatencyHistogram;
import dev.tollgate.metering.agent.UsageListener;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The journal, in two steps. On the metering thread ({@link #onUsage}) each batch, with the ledger intents admitted
 * before it, is appended to the usage log ({@link AppendLog}: memory-mapped, durable against the death of the
 * process once the append returns, a few microseconds per record) and handed to the journal's writer thread; the
 * metering thread then lets the responses' ends go. The writer ({@link JournalWriter}) lets records gather for a
 * few milliseconds and commits them in group commits ({@link #apply}): the intents (locks, dev credits, per-call
 * charges, progress checkpoints), the usage records with the settlement they imply, the embedded ledger's
 * operations due, and the log position they cover ({@link JournalWatermark}), in one SQLite transaction. At start-up the entries past the watermark are applied again
 * ({@link #replay}) before anything else, so a record the process died holding is journaled once.
 *
 * <p>If a group commit fails, its entries are applied one by one, each with its watermark; a ledger intent that fails
 * alone is written as refused instead ({@link IntentRefusals}: its request is then paid from the balance, or owed),
 * and a record that fails alone is quarantined (kept verbatim, counted) so the others keep their durability. If the log cannot be
 * written (no space left), the batch is committed to SQLite before the metering thread goes on, as a journal
 * without a log would, and a record that cannot be journaled then ends its response with an error.
 *
 * <p>Readers see their writes: every database transaction started on another thread first waits for the writer
 * to commit what was handed over before it started ({@link Database#readBarrier}), except on admission's ledger
 * executor ({@link #skipReadBarrierOnThisThread}).
 *
 * <p>A record can also be appended by the thread that ends its response ({@link #appendHere}, an event loop), when
 * that needs no waiting: its response then ends without a round trip through the metering thread.
 *
 * <p>Threading: {@link #onUsage} on the metering thread (and, for tests and shutdown, on a caller) and
 * {@link #appendHere} on any thread, serialized by one lock ({@code appendHere} never waits for it); {@link #apply}
 * on the writer thread (and at start-up, before the writer starts); {@link #quarantined}, {@link #awaitHandedOver}
 * and the counters from any thread.
 */
final class SettlementJournal implements UsageListener {
    private static final Logger LOG = Logger.getLogger(SettlementJournal.class.getName());
    /**
     * Bytes a segment must still have for {@link #appendHere}: a record with its intents takes a few hundred, so a
     * segment is all but never opened on an event loop.
     */
    private static final int ROOM_FOR_APPENDS_HERE = 64 * 1024;

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
    private final Step<Void> afterRecords;
    private final IntentRefusals refusals;
    private final StreamBudgetPolicy streamBudget;
    private final AppendLog log;
    private final AppendLog.EntryWriter<UsageRecord> usageWriter;
    private final JournalWriter writer;
    private final ThreadLocal<Boolean> barrierFree = new ThreadLocal<>();
    /**
     * Held while appending to the log and handing over to the writer, so that log order, hand-over order and ticket
     * order are one order (the writer's watermark covers a prefix of the log). The metering thread takes it; a caller
     * of {@link #appendHere} only tries it.
     */
    private final ReentrantLock appending = new ReentrantLock();
    private long lastTrim = -4096; // The first commit after a start trims what earlier runs left.
    private final AtomicLong journaled = new AtomicLong();
    private final AtomicLong quarantinedCount = new AtomicLong();
    private final AtomicLong intentFailures = new AtomicLong();
    private final Set<String> quarantinedIds = ConcurrentHashMap.newKeySet();
    /** Milliseconds from a response's end to the commit that journaled and settled its record. */
    private final LatencyHistogram settlementLag = new LatencyHistogram(3_600_000L);

    SettlementJournal(Database db, Clock clock, LedgerIntents intents, Settler settler, boolean remoteBackend,
                      Step<Object> intentStep, Step<UsageRecord> recordStep, Step<Void> afterRecords,
                      IntentRefusals refusals, AppendLog log, StreamBudgetPolicy streamBudget) {
        this.db = db;
        this.clock = clock;
        this.intents = intents;
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
        this.usageWriter = (r, out) -> JournalEntries.writeUsage(r, streamBudget.reservationOf(r.requestId()), out);
        this.writer = new JournalWriter(this::apply);
        db.readBarrier(this::readBarrier);
    }

    /** At start-up: what the journal already holds. */
    void resume(long journaledBefore, long quarantinedBefore) {
        journaled.set(journaledBefore);
        quarantinedCount.set(quarantinedBefore);
    }

    /** Starts the writer (after {@link #replay}). */
    void start() {
        writer.start();
    }

    /**
     * Appends {@code r}, after the ledger intents admitted before it, to the usage log on the caller's thread and hands
     * them to the writer, if that needs no waiting and no file to be created: the end of a response can then go out
     * at once, on its own event loop, instead of waiting for the metering thread to append the record and hand the
     * end back. Returns false, having done nothing with {@code r}, when it cannot: no log, a log that flushes each
     * append to the device ({@code durability: power}: an fsync does not belong on an event loop), a writer that is
     * not running or has a backlog (the hand-off would have to wait), a segment too full for the entry, another
     * thread appending right now, or a log that cannot be written (the intents then go to the writer unlogged). The
     * caller then submits the record through the metering agent, whose thread appends it (or commits it before going
     * on) and lets the response end.
     */
    boolean appendHere(UsageRecord r) {
        if (log == null || log.forcesEachAppend() || !writer.hasRoom() || !appending.tryLock()) {
            return false;
        }
        try {
            if (log.roomInSegment() < ROOM_FOR_APPENDS_HERE) {
                return false;
            }
            List<Object> drained = new ArrayList<>();
            intents.drainTo(drained);
            long first = -1;
            try {
                for (Object intent : drained) {
                    long seq = log.append(intent, JournalEntries::writeIntent);
                    first = first < 0 ? seq : first;
                }
                long seq = log.append(r, usageWriter);
                first = first < 0 ? seq : first;
            } catch (RuntimeException e) {
                LOG.log(Level.SEVERE, "the usage log cannot be written; the record goes through the metering thread",
                        e);
                if (!drained.isEmpty()) {
                    // Before the record, which the caller submits the usual way (committed before its response ends).
                    writer.offer(new JournalBatch(drained, List.of(), -1, writer.nextTicket(), System.nanoTime()));
                }
                return false;
            }
            writer.offer(new JournalBatch(drained, List.of(r), first, writer.nextTicket(), System.nanoTime()));
            return true;
        } finally {
            appending.unlock();
        }
    }

    @Override
    public void onUsage(List<UsageRecord> batch) {
        appending.lock();
        try {
            appendAndHandOver(batch);
        } finally {
            appending.unlock();
        }
    }

    private void appendAndHandOver(List<UsageRecord> batch) {
        List<Object> drained = new ArrayList<>();
        intents.drainTo(drained);
        if (batch.isEmpty() && drained.isEmpty()) {
            return;
        }
        long first = -1;
        if (log != null) {
            try {
                for (Object intent : drained) {
                    long seq = log.append(intent, JournalEntries::writeIntent);
                    first = first < 0 ? seq : first;
                }
                for (UsageRecord r : batch) {
                    long seq = log.append(r, usageWriter);
                    first = first < 0 ? seq : first;
                }
            } catch (RuntimeException e) {
                LOG.log(Level.SEVERE, "the usage log cannot be written; committing to the database before the "
                        + "responses end", e);
                first = -1;
            }
        }
        // The metering agent reuses its batch list: hand over a copy. Not logged: committed before going on.
        writer.handOver(new JournalBatch(drained, new ArrayList<>(batch), first, writer.nextTicket(),
                System.nanoTime()), first < 0);
    }

    /** Commits {@code work} in one transaction, or entry by entry if that fails. */
    private void apply(List<JournalBatch> work) {
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

    /** Whether the writer has records handed over and not yet committed. */
    boolean behind() {
        return writer.behind();
    }

    /**
     * Marks the current thread as one whose transactions do not wait for the writer (admission's ledger executor:
     * a request waiting for its budget must not also wait for a commit; memory already counts what is pending,
     * as it did when the commit ran on the metering thread).
     */
    void skipReadBarrierOnThisThread() {
        barrierFree.set(Boolean.TRUE);
    }

    private void readBarrier() {
        if (barrierFree.get() == null) {
            writer.awaitHandedOver();
        }
    }

    /** Waits until the writer committed everything handed over before this call. */
    void awaitHandedOver() {
        writer.awaitHandedOver();
    }

    /** Commits what is still handed over and stops the writer. */
    void close() {
        writer.close();
        if (log != null) {
            appending.lock();
            try {
                log.close(); // What an appender logged after the writer stopped is committed at the next start.
            } finally {
                appending.unlock();
            }
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

    /** Entries handed to the writer and not yet committed. */
    long waitingEntries() {
        return writer.waitingEntries();
    }

    /** Hand-offs that waited for the writer (back-pressure). */
    long backPressuredCount() {
        return writer.backPressuredCount();
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
