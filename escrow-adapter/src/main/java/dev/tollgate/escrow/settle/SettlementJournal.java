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
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The journal, in two steps. On the metering thread ({@link #onUsage}) each batch, with the ledger intents admitted
 * before it, is appended to the usage log ({@link AppendLog}: memory-mapped, durable against the death of the
 * process once the append returns, a few microseconds per record) and handed to the journal's writer thread; the
 * metering thread then lets the responses' ends go. The writer ({@link JournalWriter}) lets records gather for a
 * few milliseconds and has {@link JournalCommits} commit them in group commits: the intents (locks, dev credits,
 * per-call charges, progress checkpoints), the usage records with the settlement they imply, the embedded ledger's
 * operations due, and the log position they cover ({@link JournalWatermark}), in one SQLite transaction (entry by
 * entry if that fails). At start-up the entries past the watermark are applied again ({@link #replay}) before
 * anything else, so a record the process died holding is journaled once. If the log cannot be written (no space
 * left), the batch is committed to SQLite before the metering thread goes on, as a journal without a log would, and
 * a record that cannot be journaled then ends its response with an error.
 *
 * <p>Readers see their writes: every database transaction started on another thread first waits for the writer
 * to commit what was handed over before it started ({@link Database#readBarrier}), except on admission's ledger
 * executor ({@link #skipReadBarrierOnThisThread}).
 *
 * <p>A record can also be appended by the thread that ends its response ({@link #appendHere}, an event loop), when
 * that needs no waiting: its response then ends without a round trip through the metering thread.
 *
 * <p>Threading: {@link #onUsage} on the metering thread (and, for tests and shutdown, on a caller) and
 * {@link #appendHere} on any thread, serialized by one lock ({@code appendHere} never waits for it); {@link #replay}
 * at start-up, before the writer starts; {@link #quarantined}, {@link #awaitHandedOver} and the counters from any
 * thread.
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
    private final LedgerIntents intents;
    private final JournalCommits commits;
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

    SettlementJournal(Database db, Clock clock, LedgerIntents intents, Settler settler, boolean remoteBackend,
                      Step<Object> intentStep, Step<UsageRecord> recordStep, Step<Void> afterRecords,
                      IntentRefusals refusals, AppendLog log, StreamBudgetPolicy streamBudget) {
        this.db = db;
        this.intents = intents;
        this.commits = new JournalCommits(db, clock, settler, remoteBackend, intentStep, recordStep, afterRecords,
                refusals, log, streamBudget);
        this.log = log;
        this.usageWriter = (r, out) -> JournalEntries.writeUsage(r, streamBudget.reservationOf(r.requestId()), out);
        this.writer = new JournalWriter(commits::apply);
        db.readBarrier(this::readBarrier);
    }

    /** At start-up: what the journal already holds. */
    void resume(long journaledBefore, long quarantinedBefore) {
        commits.resume(journaledBefore, quarantinedBefore);
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
        return commits.quarantined(requestId);
    }

    long journaledCount() {
        return commits.journaledCount();
    }

    long quarantinedCount() {
        return commits.quarantinedCount();
    }

    /** Entries handed to the writer and not yet committed. */
    long waitingEntries() {
        return writer.waitingEntries();
    }

    long stalledNanos(long now) {
        return writer.stalledNanos(now);
    }

    /** Hand-offs that waited for the writer (back-pressure). */
    long backPressuredCount() {
        return writer.backPressuredCount();
    }

    /** Milliseconds from responses' ends to the commits that settled their records. */
    LatencyHistogram settlementLag() {
        return commits.settlementLag();
    }

    /** Ledger intents that could not be written even alone (written as refused, logged). */
    long intentFailures() {
        return commits.intentFailures();
    }

    /**
     * At start-up, before the writer starts: applies the log's entries past the watermark (what the process died
     * holding), in order, in group commits. {@code beforeApply} sees each entry first (to restore the in-memory
     * reservations they were admitted against).
     */
    int replay(Consumer<Object> beforeApply) {
        return commits.replay(beforeApply);
    }
}
