package dev.tollgate.metering;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Predicate;

/**
 * The threads that must never run blocking or heavy work (the proxy's event loops), and a count of every time
 * such work started on one of them anyway. Work that may block (a database transaction, tokenizing a body)
 * calls {@link #check} first; a hit is counted under the work's name, logged once with its stack, and the work
 * still runs (failing it would turn a latency bug into lost money). Tests fail on any hit; operators see
 * {@code tollgate_blocking_on_event_loop_total}.
 *
 * <p>Threading: thread-safe; {@link #check} is cheap (one predicate test).
 */
public final class NonBlockingThreads {
    private static final System.Logger LOG = System.getLogger(NonBlockingThreads.class.getName());

    private final Predicate<Thread> members;
    private final Map<String, LongAdder> hits = new ConcurrentHashMap<>();

    /** @param members true for a thread that must not block */
    public NonBlockingThreads(Predicate<Thread> members) {
        this.members = members;
    }

    /** No thread is guarded (tools and tests that run no event loop). */
    public static NonBlockingThreads none() {
        return new NonBlockingThreads(t -> false);
    }

    /** Counts {@code work} if the calling thread must not block. */
    public void check(String work) {
        Thread t = Thread.currentThread();
        if (!members.test(t)) {
            return;
        }
        boolean first = hits.get(work) == null;
        hits.computeIfAbsent(work, k -> new LongAdder()).increment();
        if (first) {
            LOG.log(System.Logger.Level.ERROR, work + " ran on " + t.getName()
                    + ", a thread that must not block (counted in tollgate_blocking_on_event_loop_total)",
                    new IllegalStateException("blocking work on a non-blocking thread"));
        }
    }

    /** Hits so far, per kind of work. */
    public Map<String, Long> hits() {
        Map<String, Long> out = new java.util.TreeMap<>();
        hits.forEach((k, v) -> out.put(k, v.sum()));
        return out;
    }

    /** Appends the Prometheus counter. */
    public void writePrometheus(StringBuilder out) {
        out.append("# HELP tollgate_blocking_on_event_loop_total Blocking work (database, tokenizer) started on an "
                + "event loop; always 0 unless there is a bug\n");
        out.append("# TYPE tollgate_blocking_on_event_loop_total counter\n");
        Map<String, Long> now = hits();
        for (String work : new String[] {"database", "tokenizer"}) {
            now.putIfAbsent(work, 0L);
        }
        now.forEach((work, n) -> out.append("tollgate_blocking_on_event_loop_total{work=\"").append(work)
                .append("\"} ").append(n).append('\n'));
    }
}
