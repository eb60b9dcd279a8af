package dev.tollgate.metering.agent;

import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * A fixed-range latency (or rate) histogram: any thread records into an HdrHistogram {@link Recorder}; the
 * reader swaps interval histograms into a cumulative one. Values are clamped into range (a Recorder throws
 * above its maximum).
 *
 * <p>Threading: {@link #record} from any thread; {@link #snapshot} and the Prometheus writer serialize on
 * this object.
 */
public final class LatencyHistogram {
    private final long max;
    private final Recorder recorder;
    private final Histogram cumulative;
    private Histogram interval;

    /** Values from 1 to {@code max} in the caller's unit, two significant digits. */
    public LatencyHistogram(long max) {
        this.max = max;
        this.recorder = new Recorder(1, max, 2);
        this.cumulative = new Histogram(1, max, 2);
    }

    public void record(long value) {
        recorder.recordValue(Math.max(1, Math.min(max, value)));
    }

    /** The cumulative histogram, brought up to date. Callers hold this object's monitor while reading it. */
    synchronized Histogram snapshot() {
        interval = recorder.getIntervalHistogram(interval);
        cumulative.add(interval);
        return cumulative;
    }

    /**
     * Appends a Prometheus histogram: cumulative buckets at {@code bounds} (in recorded units), each bucket
     * labelled {@code le} = bound / unitsPerBaseUnit written as an exact decimal.
     */
    public synchronized void writePrometheus(StringBuilder out, String name, String help, long[] bounds, long unitsPerBase) {
        Histogram h = snapshot();
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(" histogram\n");
        long total = h.getTotalCount();
        for (long bound : bounds) {
            long count = bound >= h.getMaxValue() ? total : h.getCountBetweenValues(0, bound);
            out.append(name).append("_bucket{le=\"").append(decimal(bound, unitsPerBase)).append("\"} ")
                    .append(count).append('\n');
        }
        out.append(name).append("_bucket{le=\"+Inf\"} ").append(total).append('\n');
        // Sum from the histogram's mean (HdrHistogram keeps no exact sum): exact to its 2 significant digits.
        long sum = Math.round(h.getMean() * total);
        out.append(name).append("_sum ").append(decimal(sum, unitsPerBase)).append('\n');
        out.append(name).append("_count ").append(total).append('\n');
    }

    static String decimal(long value, long unitsPerBase) {
        return new java.math.BigDecimal(value).divide(new java.math.BigDecimal(unitsPerBase)).stripTrailingZeros()
                .toPlainString();
    }
}
