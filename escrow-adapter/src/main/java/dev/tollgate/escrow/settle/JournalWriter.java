package dev.tollgate.escrow.settle;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.concurrent.locks.LockSupport;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jctools.queues.MpscUnboundedXaddArrayQueue;

/**
 * The journal's writer thread and its hand-off: batches wait in a queue until the first of them has lingered
 * {@link #LINGER_NANOS} (or a commit's worth is waiting, or a reader needs them), then go to the database in one
 * commit. Every hand-off has a ticket number; {@link #awaitHandedOver} waits until the writer committed every
 * ticket issued before the call (the database's read barrier), and cuts the linger short.
 *
 * <p>Threading: {@link #handOver} and {@link #offer} from one thread at a time (the journal's appenders, under its
 * lock);
 * {@link #awaitHandedOver}, {@link #behind} from any thread; the commits run on the writer thread, or on the
 * caller of {@link #handOver} when the writer is not running (before start, after close).
 */
final class JournalWriter {
    private static final Logger LOG = Logger.getLogger(JournalWriter.class.getName());
    /**
     * Records per commit while little waits. A commit holds the database (and a core) for its whole length, and
     * whatever reads or writes the database meanwhile waits for it (statements, the admin and escrow APIs, the
     * settler). Chosen when admission still opened budget escrows in a database transaction: commits of a few
     * thousand stream-budget records then put hundreds of milliseconds on streams' time to first token in the quick
     * load run, and 64 took that to a few. Admission no longer touches the database.
     */
    static final int MAX_RECORDS_PER_COMMIT = 64;
    /** Most records per commit while a backlog is being worked off (a quarter of what waits, up to this). */
    static final int LARGEST_COMMIT = 4096;
    /**
     * How long the writer lets records gather before a commit. The usage log already made them durable and nothing
     * on a request's path waits for the commit, so a commit need not follow every record.
     */
    static final long LINGER_NANOS = 5_000_000L;
    /**
     * Most entries waiting for a commit. Past it the hand-off waits for the writer, and so do the responses whose
     * records are handed over: clients are slowed to what the database can take instead of memory growing.
     */
    static final int MAX_WAITING_ENTRIES = 32_768;

    private final Consumer<List<JournalBatch>> commit;
    private final MpscUnboundedXaddArrayQueue<JournalBatch> handedOver = new MpscUnboundedXaddArrayQueue<>(256);
    private final AtomicLong tickets = new AtomicLong();
    private final AtomicLong waitingEntries = new AtomicLong();
    private final AtomicLong backPressured = new AtomicLong();
    private final Object committing = new Object();
    private final Object committed = new Object();
    private final Thread thread;
    private volatile long committedTicket;
    /** When entries last started to wait on an empty writer, or its last commit ended, whichever is later. */
    private volatile long progressNanos;
    private volatile boolean closing;
    private volatile boolean urgent;

    JournalWriter(Consumer<List<JournalBatch>> commit) {
        this.commit = commit;
        this.thread = new Thread(this::run, "tollgate-journal");
        this.thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    /** The next ticket number. */
    long nextTicket() {
        return tickets.incrementAndGet();
    }

    /**
     * Queues {@code b} (whose ticket came from {@link #nextTicket}); with {@code wait}, returns once it is committed.
     */
    void handOver(JournalBatch b, boolean wait) {
        long before = waitingEntries.getAndAdd(b.entries());
        if (before == 0) {
            progressNanos = b.handedAtNanos();
        }
        handedOver.offer(b);
        if (!thread.isAlive()) {
            commitWaiting();
        } else if (wait) {
            awaitTicket(b.ticket());
        } else if (before + b.entries() > MAX_WAITING_ENTRIES) {
            awaitBacklogBelow(MAX_WAITING_ENTRIES / 2);
        } else if (before == 0 || before + b.entries() >= MAX_RECORDS_PER_COMMIT) {
            // The first batch of a commit starts the writer's linger; a full commit's worth ends it.
            LockSupport.unpark(thread);
        }
    }

    /**
     * Queues {@code b} (whose ticket came from {@link #nextTicket}) and returns at once, whatever waits: for a caller
     * that must not wait (an event loop), which checks {@link #hasRoom} first. Only while the writer runs.
     */
    void offer(JournalBatch b) {
        long before = waitingEntries.getAndAdd(b.entries());
        if (before == 0) {
            progressNanos = b.handedAtNanos();
        }
        handedOver.offer(b);
        // Only the first batch and the one that makes a commit's worth wake the writer: event loops offer one record
        // at a time, and a writer with a commit's worth waiting does not park (it looks before it parks).
        if (before == 0 || before < MAX_RECORDS_PER_COMMIT && before + b.entries() >= MAX_RECORDS_PER_COMMIT) {
            LockSupport.unpark(thread);
        }
    }

    /**
     * Whether the writer runs and what waits for it is well below the back-pressure bound (half of
     * {@link #MAX_WAITING_ENTRIES}), so that a hand-off need not wait.
     */
    boolean hasRoom() {
        return thread.isAlive() && !closing && waitingEntries.get() < MAX_WAITING_ENTRIES / 2;
    }

    /** Back-pressure: waits until the writer has brought what waits below {@code entries}. */
    private void awaitBacklogBelow(long entries) {
        backPressured.incrementAndGet();
        urgent = true;
        LockSupport.unpark(thread);
        synchronized (committed) {
            while (waitingEntries.get() >= entries && thread.isAlive()) {
                try {
                    committed.wait(100);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    /** Entries handed over and not yet committed. */
    long waitingEntries() {
        return waitingEntries.get();
    }

    /**
     * How long entries have waited without the writer finishing a commit, at {@code now} ({@link System#nanoTime}):
     * 0 when nothing waits. A writer that keeps up stays within its linger plus one commit.
     */
    long stalledNanos(long now) {
        return waitingEntries.get() == 0 ? 0 : Math.max(0, now - progressNanos);
    }

    /** Hand-offs that waited for the writer because too much was waiting ({@link #MAX_WAITING_ENTRIES}). */
    long backPressuredCount() {
        return backPressured.get();
    }

    private void run() {
        while (!closing || !handedOver.isEmpty()) {
            try {
                JournalBatch head = handedOver.peek();
                if (head == null) {
                    LockSupport.parkNanos(50_000_000L);
                    continue;
                }
                long lingered = System.nanoTime() - head.handedAtNanos();
                if (lingered < LINGER_NANOS && !urgent && !closing
                        && waitingEntries.get() < MAX_RECORDS_PER_COMMIT) {
                    LockSupport.parkNanos(LINGER_NANOS - lingered);
                    continue;
                }
                urgent = waitingEntries.get() > MAX_WAITING_ENTRIES / 2;
                commitWaiting();
            } catch (Throwable t) {
                LOG.log(Level.SEVERE, "journal writer failed; it goes on with the next batch", t);
            }
        }
    }

    /** Commits what is waiting, up to a commit's worth. */
    private void commitWaiting() {
        synchronized (committing) {
            List<JournalBatch> work = new ArrayList<>();
            int records = 0;
            // Small commits while little waits (a commit holds the database); larger ones when a backlog builds,
            // so that the writer's fixed work per commit is shared and it catches up.
            long limit = Math.min(LARGEST_COMMIT, Math.max(MAX_RECORDS_PER_COMMIT, waitingEntries.get() / 4));
            JournalBatch b;
            while (records < limit && (b = handedOver.poll()) != null) {
                work.add(b);
                records += b.records().size();
                waitingEntries.addAndGet(-b.entries());
            }
            if (work.isEmpty()) {
                return;
            }
            commit.accept(work);
            progressNanos = System.nanoTime();
            synchronized (committed) {
                committedTicket = work.get(work.size() - 1).ticket();
                committed.notifyAll();
            }
        }
    }

    /** Whether batches were handed over and not yet committed. */
    boolean behind() {
        return committedTicket < tickets.get();
    }

    /** Waits until every batch handed over before this call is committed (at once on the writer thread). */
    void awaitHandedOver() {
        if (Thread.currentThread() == thread || !thread.isAlive()) {
            return;
        }
        awaitTicket(tickets.get());
    }

    private void awaitTicket(long ticket) {
        if (committedTicket >= ticket) {
            return;
        }
        urgent = true;
        LockSupport.unpark(thread);
        synchronized (committed) {
            while (committedTicket < ticket && thread.isAlive()) {
                try {
                    committed.wait(100);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    /** Commits what is still handed over and stops the thread. */
    void close() {
        closing = true;
        LockSupport.unpark(thread);
        try {
            thread.join(30_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        while (!handedOver.isEmpty()) {
            commitWaiting();
        }
    }
}
