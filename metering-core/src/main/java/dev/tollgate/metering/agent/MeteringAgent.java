package dev.tollgate.metering.agent;

import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.UsageRecord;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jctools.queues.MpscArrayQueue;

/**
 * The single metering thread. Event loops {@link #submit} records through a bounded MPSC queue; the agent
 * drains them in batches, aggregates per account x upstream x model label (configured models by name, the rest
 * as {@code "other"}), records latency histograms and hands
 * each batch to its listeners (the settlement journal commits one transaction per batch).
 *
 * <p>A full queue never drops a record: the offer failure is counted and the record takes an unbounded
 * overflow queue that the agent drains too. The producer never spins or blocks.
 *
 * <p>A record the submitter already gave the listeners itself ({@link #submitHandled}) is only aggregated here.
 *
 * <p>Threading: {@link #submit}, {@link #submitHandled}, {@link #streamStarted}, {@link #streamEnded} are called
 * from any thread and never block; {@link #awaitAggregated} blocks its caller. Readers ({@link #find},
 * {@link #totals}, {@link #writePrometheus}) may run on any thread. Listeners run on the metering thread only.
 */
public final class MeteringAgent implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(MeteringAgent.class.getName());
    private static final int DRAIN_LIMIT = 256;
    private static final long[] SECONDS_BOUNDS_MICROS = {
        1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
        5_000_000, 10_000_000, 30_000_000, 60_000_000, 120_000_000};
    private static final long[] OVERHEAD_BOUNDS_MICROS = {
        10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000};
    private static final long[] RATE_BOUNDS_MILLI = {
        1_000, 5_000, 10_000, 25_000, 50_000, 100_000, 200_000, 500_000, 1_000_000, 2_000_000, 5_000_000};

    private final MpscArrayQueue<Object> queue;
    private final Queue<Object> overflow = new ConcurrentLinkedQueue<>();
    private final List<Runnable> callbacks = new ArrayList<>();
    private final List<UsageRecord> handled = new ArrayList<>();
    private final List<UsageListener> listeners = new CopyOnWriteArrayList<>();
    private final UsageAggregates aggregates;
    private final RecentRecords recent = new RecentRecords(100_000);
    private final LatencyHistogram ttft = new LatencyHistogram(600_000_000L);
    private final LatencyHistogram duration = new LatencyHistogram(3_600_000_000L);
    private final LatencyHistogram overhead = new LatencyHistogram(600_000_000L);
    private final LatencyHistogram rate = new LatencyHistogram(100_000_000L);
    private final AtomicLong submitted = new AtomicLong();
    private final AtomicLong processed = new AtomicLong();
    private final AtomicLong overflowed = new AtomicLong();
    private final AtomicLong listenerErrors = new AtomicLong();
    private final AtomicLong inFlight = new AtomicLong();
    private final Thread thread;
    private volatile boolean running;
    private volatile boolean parked;
    private volatile boolean wakeRequested;
    private volatile long wakeRequestedNanos;
    /** How long a wake-up waits for records to ride along before the listeners run on an empty batch. */
    private static final long WAKE_LINGER_NANOS = 2_000_000L;

    /** An agent whose metrics label no model by name (every model is {@code model="other"}). */
    public MeteringAgent(int queueCapacity) {
        this(queueCapacity, Set.of());
    }

    /**
     * @param queueCapacity  capacity of the hand-off queue
     * @param labelledModels the models that get their own {@code model} label in {@link #writePrometheus} (those
     *                       the operator configured); every other model is {@code model="other"}. Lookups by
     *                       request id and account totals keep the real model name.
     */
    public MeteringAgent(int queueCapacity, Set<String> labelledModels) {
        this.aggregates = new UsageAggregates(labelledModels);
        this.queue = new MpscArrayQueue<>(Math.max(2, queueCapacity));
        this.thread = new Thread(this::run, "tollgate-metering");
        this.thread.setDaemon(true);
    }

    public void addListener(UsageListener listener) {
        listeners.add(listener);
    }

    public void start() {
        running = true;
        thread.start();
    }

    /** A record whose submitter waits until the listeners (the journal) have it. */
    private record Awaited(UsageRecord record, Runnable afterListeners) {
    }

    /** A record the submitter already gave the listeners itself: aggregated here, not passed to them again. */
    private record Handled(UsageRecord record) {
    }

    /** A reader waiting until what was submitted before it is aggregated. */
    private record Barrier(CountDownLatch passed) {
    }

    /** Hands a record to the metering thread; never drops it (a full queue is counted and takes the overflow path). */
    public void submit(UsageRecord record) {
        enqueue(record);
    }

    /**
     * Like {@link #submit(UsageRecord)}, and runs {@code afterListeners} on the metering thread once every
     * listener has processed the batch holding the record (for the journal: once it is committed). The
     * callback must be quick: hand work back to the caller's thread.
     */
    public void submit(UsageRecord record, Runnable afterListeners) {
        enqueue(new Awaited(record, afterListeners));
    }

    /**
     * A record the listeners already have: the caller handed it to them itself (the settlement journal appends a
     * record to its usage log on the caller's thread when it can do so without waiting). It is aggregated, counted
     * and findable like any record, but not passed to the listeners again. The metering thread is not woken for
     * it: it takes it on its next turn (it never sleeps longer than a millisecond).
     */
    public void submitHandled(UsageRecord record) {
        enqueue(new Handled(record), false);
    }

    /**
     * Waits, up to {@code timeoutMillis}, until every record submitted before this call is aggregated, so that a
     * reader of {@link #totals} or {@link #find} sees what ended before it asked (the end of a response no longer
     * waits for the metering thread). Blocks: never call it on an event loop. Returns whether they were.
     */
    public boolean awaitAggregated(long timeoutMillis) {
        if (!running || !thread.isAlive()) {
            return true;
        }
        Barrier b = new Barrier(new CountDownLatch(1));
        enqueue(b, true);
        try {
            return b.passed().await(timeoutMillis, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private void enqueue(Object item) {
        enqueue(item, true);
    }

    private void enqueue(Object item, boolean wake) {
        if (!(item instanceof Barrier)) {
            submitted.incrementAndGet();
        }
        if (!queue.offer(item)) {
            overflowed.incrementAndGet();
            overflow.add(item);
        }
        if (wake && parked) {
            LockSupport.unpark(thread);
        }
        if (!running && !thread.isAlive()) {
            // Closed: process on the caller rather than lose the record.
            synchronized (this) {
                drainOnce(new ArrayList<>());
            }
        }
    }

    /**
     * Asks the metering thread to call its listeners soon even if no record is waiting (with an empty batch): a
     * listener with work of its own queued (the settlement journal's admitted locks) commits it then. The call
     * lingers about two milliseconds so that records arriving meanwhile share the same batch (a short request's
     * lock and usage then commit together). Any thread; never blocks, never unparks.
     */
    public void wake() {
        if (!wakeRequested) {
            wakeRequestedNanos = System.nanoTime();
            wakeRequested = true;
        }
    }

    public void streamStarted() {
        inFlight.incrementAndGet();
    }

    public void streamEnded() {
        inFlight.decrementAndGet();
    }

    /** Records submitted so far. */
    public long submittedCount() {
        return submitted.get();
    }

    /** Records aggregated and handed to every listener so far. */
    public long processedCount() {
        return processed.get();
    }

    /** Offers that found the queue full (their records took the overflow path). */
    public long overflowCount() {
        return overflowed.get();
    }

    /** A recently metered record by request id, or null. */
    public UsageRecord find(String requestId) {
        return recent.find(requestId);
    }

    /** Totals for one account. */
    public UsageTotals totals(String account) {
        return aggregates.totals(account);
    }

    private void run() {
        List<UsageRecord> batch = new ArrayList<>(DRAIN_LIMIT);
        int idle = 0;
        while (running) {
            int n = drainOnce(batch);
            if (n > 0) {
                idle = 0;
            } else if (++idle < 100) {
                Thread.onSpinWait();
            } else {
                parked = true;
                if (queue.isEmpty() && overflow.isEmpty() && running) {
                    LockSupport.parkNanos(1_000_000L);
                }
                parked = false;
            }
        }
        while (drainOnce(batch) > 0) {
            // Drain what was submitted before close.
        }
    }

    private int drainOnce(List<UsageRecord> batch) {
        batch.clear();
        handled.clear();
        callbacks.clear();
        Object polled;
        for (int i = 0; i < DRAIN_LIMIT && (polled = queue.relaxedPoll()) != null; i++) {
            take(polled, batch);
        }
        while (batch.size() + handled.size() < DRAIN_LIMIT * 2 && (polled = overflow.poll()) != null) {
            take(polled, batch);
        }
        for (UsageRecord rec : handled) {
            account(rec);
        }
        if (batch.isEmpty()) {
            if (wakeRequested && System.nanoTime() - wakeRequestedNanos >= WAKE_LINGER_NANOS) {
                wakeRequested = false;
                notifyListeners(batch);
            }
        } else {
            for (UsageRecord rec : batch) {
                account(rec);
            }
            wakeRequested = false;
            notifyListeners(batch);
        }
        int n = batch.size() + handled.size();
        processed.addAndGet(n);
        for (Runnable cb : callbacks) {
            try {
                cb.run();
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "usage callback failed", e);
            }
        }
        return n + callbacks.size();
    }

    private void notifyListeners(List<UsageRecord> batch) {
        for (UsageListener l : listeners) {
            try {
                l.onUsage(batch);
            } catch (RuntimeException e) {
                listenerErrors.incrementAndGet();
                LOG.log(Level.SEVERE, "usage listener failed on a batch of " + batch.size(), e);
            }
        }
    }

    private void take(Object item, List<UsageRecord> batch) {
        if (item instanceof Awaited a) {
            batch.add(a.record());
            callbacks.add(a.afterListeners());
        } else if (item instanceof Handled h) {
            handled.add(h.record());
        } else if (item instanceof Barrier b) {
            callbacks.add(b.passed()::countDown);
        } else {
            batch.add((UsageRecord) item);
        }
    }

    private void account(UsageRecord r) {
        aggregates.add(r);
        recent.add(r);
        if (r.ttftNanos() >= 0) {
            ttft.record(r.ttftNanos() / 1000);
        }
        duration.record(r.durationNanos() / 1000);
        if (r.overheadNanos() >= 0) {
            overhead.record(r.overheadNanos() / 1000);
        }
        long mtps = r.milliTokensPerSecond();
        if (mtps >= 0) {
            rate.record(mtps);
        }
    }

    /** Appends the Prometheus text exposition of every metering metric. */
    public void writePrometheus(StringBuilder out) {
        out.append("# HELP tollgate_tokens_total Tokens metered, by type.\n# TYPE tollgate_tokens_total counter\n");
        for (Map.Entry<UsageAggregates.Key, UsageAggregates.Counters> e : aggregates.byKey.entrySet()) {
            for (String type : new String[] {"prompt", "completion"}) {
                out.append("tollgate_tokens_total{type=\"").append(type).append('"');
                labels(out, e.getKey());
                out.append("} ").append(type.equals("prompt") ? e.getValue().prompt.get() : e.getValue().completion.get())
                        .append('\n');
            }
        }
        out.append("# HELP tollgate_requests_total Metered requests, by outcome.\n"
                + "# TYPE tollgate_requests_total counter\n");
        for (Map.Entry<UsageAggregates.Key, UsageAggregates.Counters> e : aggregates.byKey.entrySet()) {
            for (Outcome o : Outcome.values()) {
                long v = e.getValue().byOutcome[o.ordinal()].get();
                if (v == 0) {
                    continue;
                }
                out.append("tollgate_requests_total{outcome=\"").append(o.wireName()).append('"');
                labels(out, e.getKey());
                out.append("} ").append(v).append('\n');
            }
        }
        ttft.writePrometheus(out, "tollgate_time_to_first_token_seconds",
                "Request arrival to first content chunk.", SECONDS_BOUNDS_MICROS, 1_000_000L);
        duration.writePrometheus(out, "tollgate_request_duration_seconds", "Request arrival to end of response.",
                SECONDS_BOUNDS_MICROS, 1_000_000L);
        overhead.writePrometheus(out, "tollgate_overhead_seconds",
                "Time added by Tollgate: total minus time waiting on the upstream.", OVERHEAD_BOUNDS_MICROS, 1_000_000L);
        rate.writePrometheus(out, "tollgate_output_tokens_per_second",
                "Completion tokens per second from first token to end.", RATE_BOUNDS_MILLI, 1_000L);
        PrometheusText.gauge(out, "tollgate_streams_in_flight", "Streams being relayed now.", inFlight.get());
        PrometheusText.gauge(out, "tollgate_metering_queue_depth", "Usage records waiting for the metering thread.",
                queue.size() + overflow.size());
        PrometheusText.counter(out, "tollgate_metering_queue_overflow_total",
                "Hand-offs that found the metering queue full (the record took the overflow path; none is dropped).",
                overflowed.get());
        PrometheusText.counter(out, "tollgate_metering_listener_errors_total", "Usage batches a listener failed on.",
                listenerErrors.get());
        PrometheusText.counter(out, "tollgate_usage_records_total", "Usage records metered.", processed.get());
    }

    private static void labels(StringBuilder out, UsageAggregates.Key k) {
        out.append(",account=\"").append(escape(k.account())).append("\",model=\"").append(escape(k.model()))
                .append("\",upstream=\"").append(escape(k.upstream())).append('"');
    }

    static String escape(String v) {
        return v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }

    /** Drains every submitted record through the listeners, then stops the thread. */
    @Override
    public void close() {
        running = false;
        LockSupport.unpark(thread);
        if (thread.isAlive()) {
            try {
                thread.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        synchronized (this) {
            List<UsageRecord> batch = new ArrayList<>();
            while (drainOnce(batch) > 0) {
                // Anything submitted while the thread was stopping.
            }
        }
    }
}
