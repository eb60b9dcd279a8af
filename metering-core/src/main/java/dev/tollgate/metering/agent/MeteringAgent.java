package dev.tollgate.metering.agent;

import dev.tollgate.metering.UsageRecord;

/**
 * The single metering thread. Event loops {@link #submit} records through a bounded MPSC queue; the agent
 * drains them in batches, aggregates per account x upstream x model, records latency histograms and hands
 * each batch to its listeners.
 *
 * <p>Threading: {@link #submit}, {@link #streamStarted}, {@link #streamEnded} are called from any thread and
 * never block. Readers ({@link #find}, {@link #totals}, {@link #writePrometheus}) may run on any thread.
 */
public final class MeteringAgent implements AutoCloseable {
    public MeteringAgent(int queueCapacity) {
        throw new UnsupportedOperationException("todo");
    }

    public void addListener(UsageListener listener) {
        throw new UnsupportedOperationException("todo");
    }

    public void start() {
        throw new UnsupportedOperationException("todo");
    }

    /** Hands a record to the metering thread; never drops it (a full queue is counted and takes the overflow path). */
    public void submit(UsageRecord record) {
        throw new UnsupportedOperationException("todo");
    }

    public void streamStarted() {
        throw new UnsupportedOperationException("todo");
    }

    public void streamEnded() {
        throw new UnsupportedOperationException("todo");
    }

    /** A recently metered record by request id, or null. */
    public UsageRecord find(String requestId) {
        throw new UnsupportedOperationException("todo");
    }

    /** Totals for one account. */
    public UsageTotals totals(String account) {
        throw new UnsupportedOperationException("todo");
    }

    /** Appends the Prometheus text exposition of every metering metric. */
    public void writePrometheus(StringBuilder out) {
        throw new UnsupportedOperationException("todo");
    }

    /** Drains every submitted record through the listeners, then stops the thread. */
    @Override
    public void close() {
        throw new UnsupportedOperationException("todo");
    }
}
