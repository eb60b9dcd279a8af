package dev.tollgate.proxy;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Keeps the node's background threads (journal writer, metering, ledger, settler, WAL checkpointer) in Linux's
 * {@code SCHED_IDLE} class while they keep up, so that they run on CPU time no event loop wants, and moves the
 * journal writer and the metering thread back to the normal class while the journal falls behind.
 *
 * <p>Why: a background thread woken on an event loop's CPU preempts the loop in the middle of a response (the
 * journal writer's group commit holds the CPU for about half a millisecond), which is what the slowest 1% of
 * requests at one connection measured; lowering the nice value does not stop it on the kernels measured, the
 * idle class does. But a thread in the idle class gets almost nothing while the event loops keep every CPU busy:
 * the journal would fall behind until its back-pressure bound slowed the responses, and settlement would lag by
 * seconds. So a small thread of the normal class ({@code tollgate-priority}) looks at the journal every
 * {@value #CHECK_MILLIS} ms: with more than {@value #BEHIND_ENTRIES} entries waiting, or entries waiting for
 * {@value #STALLED_MILLIS} ms without a commit ending, it moves the writer and the metering thread to the normal
 * class; once neither has been true for {@value #CALM_MILLIS} ms (and fewer than {@value #CAUGHT_UP_ENTRIES}
 * wait), back to the idle class (benchmarks/RESULTS.md, "Background threads in the idle class").
 *
 * <p>Moving a thread into the idle class needs no privilege; moving it back needs {@code CAP_SYS_NICE} or an
 * {@code RLIMIT_NICE} of at least 20 (systemd's {@code LimitNICE=+0}, as {@code deploy/tollgate.service} sets).
 * Without either, nothing is moved (a journal that could starve with no way back would let settlement lag by
 * seconds under full load) and {@link Outcome#problem()} says so; likewise where {@code /proc} or {@code chrt} is
 * missing.
 *
 * <p>Threading: {@link #start} and {@link #close} from the thread that starts and stops the node; the checks run
 * on {@code tollgate-priority}; {@link #promotions()} from any thread.
 */
public final class BackgroundThreads implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(BackgroundThreads.class.getName());

    /** The Java names of the threads kept in the idle class. */
    public static final List<String> NAMES = List.of("tollgate-journal", "tollgate-metering", "tollgate-ledger",
            "tollgate-settler", "tollgate-wal-checkpoint");

    /** The threads the loops wait on when the journal is behind: moved back to the normal class then. */
    static final List<String> CATCH_UP = List.of("tollgate-journal", "tollgate-metering");

    static final long CHECK_MILLIS = 10;
    /** An eighth of the journal's back-pressure bound, a quarter of where the loops stop appending themselves. */
    static final long BEHIND_ENTRIES = 4_096;
    static final long CAUGHT_UP_ENTRIES = 512;
    /** Far beyond what a writer that keeps up takes (its 5 ms linger, then a commit), far below a lag that matters. */
    static final long STALLED_MILLIS = 200;
    static final long CALM_MILLIS = 500;

    /**
     * What happened at start.
     *
     * @param moved    kernel names of the threads put in the idle class (once per thread)
     * @param adaptive whether threads were moved, and so go back to the normal class while the journal is behind
     * @param problem  why some or all threads were not moved; null when all were
     */
    public record Outcome(List<String> moved, boolean adaptive, String problem) {
    }

    private final Outcome outcome;
    private final Map<String, List<String>> tids;
    private final List<String> catchUp;
    private final LongSupplier waitingEntries;
    private final LongSupplier stalledNanos;
    private final ScheduledExecutorService checks;
    private final AtomicLong promotions = new AtomicLong();
    private volatile boolean promoted;
    private long calmSince = -1;

    private BackgroundThreads(Outcome outcome, Map<String, List<String>> tids, List<String> catchUp,
                              LongSupplier waitingEntries, LongSupplier stalledNanos) {
        this.outcome = outcome;
        this.tids = tids;
        this.catchUp = catchUp;
        this.waitingEntries = waitingEntries;
        this.stalledNanos = stalledNanos;
        if (outcome.adaptive()) {
            this.checks = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "tollgate-priority");
                t.setDaemon(true);
                return t;
            });
            checks.scheduleWithFixedDelay(this::check, CHECK_MILLIS, CHECK_MILLIS, TimeUnit.MILLISECONDS);
        } else {
            this.checks = null;
        }
    }

    /**
     * Moves this process's background threads into the idle class and, where the process may move them back,
     * starts watching the journal: its waiting entries, and how long they have waited without a commit ending.
     */
    public static BackgroundThreads start(LongSupplier waitingEntries, LongSupplier stalledNanos) {
        return start(Path.of("/proc/self"), NAMES, CATCH_UP, waitingEntries, stalledNanos);
    }

    /** {@code names}: the threads to move; {@code catchUp}: those of them that go back while the journal is behind. */
    static BackgroundThreads start(Path proc, List<String> names, List<String> catchUp, LongSupplier waitingEntries,
                                   LongSupplier stalledNanos) {
        if (!SchedulingClass.mayLeaveIdle(proc)) {
            // A journal that could starve with no way back would let settlement lag by seconds under full load.
            return new BackgroundThreads(new Outcome(List.of(), false, "left in the normal scheduling class: the "
                    + "journal writer could not leave the idle class when it falls behind (that needs CAP_SYS_NICE or "
                    + "an RLIMIT_NICE of 20, e.g. systemd LimitNICE=+0)"), Map.of(), catchUp, waitingEntries,
                    stalledNanos);
        }
        Map<String, List<String>> tids;
        try {
            tids = SchedulingClass.threads(proc.resolve("task"), names);
            // A thread gets its kernel name when it first runs: on a loaded machine a thread just started may not
            // have it yet. Every node has all of them (an open proxy too), so wait a little for the missing.
            List<String> all = names.stream().map(SchedulingClass::comm).toList();
            for (int i = 0; i < 10 && !tids.keySet().containsAll(all); i++) {
                java.util.concurrent.locks.LockSupport.parkNanos(10_000_000L);
                tids = SchedulingClass.threads(proc.resolve("task"), names);
            }
        } catch (IOException e) {
            return new BackgroundThreads(new Outcome(List.of(), false,
                    "cannot list " + proc.resolve("task") + " (" + e.getMessage() + ")"), Map.of(), catchUp,
                    waitingEntries, stalledNanos);
        }
        List<String> moved = new ArrayList<>();
        List<String> failed = new ArrayList<>();
        for (Map.Entry<String, List<String>> t : tids.entrySet()) {
            for (String tid : t.getValue()) {
                String error = SchedulingClass.IDLE.apply(tid);
                if (error == null) {
                    moved.add(t.getKey());
                } else {
                    failed.add(t.getKey() + ": " + error);
                }
            }
        }
        return new BackgroundThreads(new Outcome(List.copyOf(moved), !moved.isEmpty(),
                failed.isEmpty() ? null : String.join("; ", failed)), tids, catchUp, waitingEntries, stalledNanos);
    }

    public Outcome outcome() {
        return outcome;
    }

    /** How many times the journal writer and metering thread went back to the normal class to catch up. */
    public long promotions() {
        return promotions.get();
    }

    private void check() {
        try {
            checkOnce();
        } catch (RuntimeException e) {
            // A periodic task that throws is never run again: log it and keep watching.
            LOG.log(Level.WARNING, "background thread check failed", e);
        }
    }

    private void checkOnce() {
        long waiting = waitingEntries.getAsLong();
        boolean behind = waiting > BEHIND_ENTRIES
                || stalledNanos.getAsLong() > TimeUnit.MILLISECONDS.toNanos(STALLED_MILLIS);
        if (!promoted) {
            if (behind) {
                moveCatchUp(SchedulingClass.NORMAL);
                promoted = true;
                calmSince = -1;
                promotions.incrementAndGet();
            }
            return;
        }
        long now = System.nanoTime();
        if (behind || waiting >= CAUGHT_UP_ENTRIES) {
            calmSince = -1;
        } else if (calmSince < 0) {
            calmSince = now;
        } else if (now - calmSince >= TimeUnit.MILLISECONDS.toNanos(CALM_MILLIS)) {
            moveCatchUp(SchedulingClass.IDLE);
            promoted = false;
        }
    }

    private void moveCatchUp(SchedulingClass c) {
        for (String name : catchUp) {
            for (String tid : tids.getOrDefault(SchedulingClass.comm(name), List.of())) {
                c.apply(tid); // a thread that ended meanwhile fails here, harmlessly
            }
        }
    }

    /** {@code tollgate_background_promotions_total}, and whether the catch-up threads are in the normal class now. */
    void writePrometheus(StringBuilder out) {
        out.append("# HELP tollgate_background_promotions_total Times the journal writer and metering thread left the idle "
                + "scheduling class because the journal fell behind.\n");
        out.append("# TYPE tollgate_background_promotions_total counter\n");
        out.append("tollgate_background_promotions_total ").append(promotions.get()).append('\n');
        out.append("# HELP tollgate_background_promoted 1 while the journal writer and metering thread are out of the "
                + "idle scheduling class to catch up.\n");
        out.append("# TYPE tollgate_background_promoted gauge\n");
        out.append("tollgate_background_promoted ").append(promoted ? 1 : 0).append('\n');
    }

    @Override
    public void close() {
        if (checks != null) {
            checks.shutdownNow();
        }
    }
}
