package dev.tollgate.bench.load;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.HdrHistogram.Histogram;

/** Collects the load harness's measurements and renders them as Markdown with ratios. */
final class Report {
    private final boolean quick;
    private final String policy;
    private final List<String> ladderRows = new ArrayList<>();
    private final List<String> streamRows = new ArrayList<>();
    private final List<String> streamGoalRows = new ArrayList<>();
    private final List<String> streamDetailRows = new ArrayList<>();
    private double maxDirect;
    private double maxThrough;
    private String halfRow = "";
    private long addedP99AtHalf = -1;
    private long addedTtftP99AtMax = -1;
    private long heapPerStreamBytes = -1;
    List<String[]> overhead = List.of();
    List<String[]> streamOverhead = List.of();
    private final List<String> lagRows = new ArrayList<>();
    long streamTokens = -1;

    Report(boolean quick, String policy) {
        this.quick = quick;
        this.policy = policy;
    }

    void ladder(int rate, LoadClient.Result d, LoadClient.Result t) {
        if (d != null && !LoadHarness.saturated(d, rate)) {
            maxDirect = Math.max(maxDirect, d.achievedRate());
        }
        if (t != null && !LoadHarness.saturated(t, rate)) {
            maxThrough = Math.max(maxThrough, t.achievedRate());
        }
        ladderRows.add(String.format(Locale.ROOT, "| %d | %s | %s | %s | %s |", rate, cell(d), cell(t),
                d == null || t == null ? "-" : LoadHarness.ms(t.latency.getValueAtPercentile(99)
                        - d.latency.getValueAtPercentile(99)),
                d == null || t == null ? "-" : String.format(Locale.ROOT, "%.2f", t.achievedRate() / d.achievedRate())));
    }

    private static String cell(LoadClient.Result r) {
        if (r == null) {
            return "saturated earlier";
        }
        Histogram h = r.latency;
        return String.format(Locale.ROOT, "%.0f rps, p50 %s / p99 %s / p99.9 %s ms, %d err", r.achievedRate(),
                LoadHarness.ms(h.getValueAtPercentile(50)), LoadHarness.ms(h.getValueAtPercentile(99)),
                LoadHarness.ms(h.getValueAtPercentile(99.9)), r.errors.get());
    }

    double maxRate(boolean direct) {
        return direct ? maxDirect : maxThrough;
    }

    void halfRate(int rate, LoadClient.Result d, LoadClient.Result t, double proxyCores) {
        addedP99AtHalf = t.latency.getValueAtPercentile(99) - d.latency.getValueAtPercentile(99);
        halfRow = String.format(Locale.ROOT, "| %d | %s | %s | %s | %s | %.2f |", rate, cell(d), cell(t),
                LoadHarness.ms(t.latency.getValueAtPercentile(50) - d.latency.getValueAtPercentile(50)),
                LoadHarness.ms(addedP99AtHalf), proxyCores);
    }

    void streams(int n, LoadClient.Result d, LoadClient.Result t, CpuShares dCpu, CpuShares tCpu, long idleRssKib,
                 long peakRssKib) {
        long addedTtft = t.ttft.getValueAtPercentile(99) - d.ttft.getValueAtPercentile(99);
        addedTtftP99AtMax = addedTtft;
        heapPerStreamBytes = n == 0 ? -1 : Math.max(0, (peakRssKib - idleRssKib) * 1024 / n);
        streamRows.add(String.format(Locale.ROOT, "| %d | %s / %s | %s / %s | %s | %s / %s | %s / %s | %.3f | %d / %d | %s | %s | %.2f | %s | %d MiB | %d |",
                n, LoadHarness.ms(d.ttft.getValueAtPercentile(50)), LoadHarness.ms(d.ttft.getValueAtPercentile(99)),
                LoadHarness.ms(t.ttft.getValueAtPercentile(50)), LoadHarness.ms(t.ttft.getValueAtPercentile(99)),
                LoadHarness.ms(addedTtft),
                LoadHarness.ms(d.gaps.getValueAtPercentile(50)), LoadHarness.ms(d.gaps.getValueAtPercentile(99)),
                LoadHarness.ms(t.gaps.getValueAtPercentile(50)), LoadHarness.ms(t.gaps.getValueAtPercentile(99)),
                (double) t.gaps.getValueAtPercentile(99) / Math.max(1, d.gaps.getValueAtPercentile(99)),
                d.ok.get(), t.ok.get(), dCpu.loadSide(), tCpu.loadSide(), tCpu.proxyCores(), tCpu.proxyThreads(),
                peakRssKib / 1024, heapPerStreamBytes));
        streamDetailRows.add(String.format(Locale.ROOT, "| %d | %s / %s | %s | %s / %s | %s / %s | %s | %s |", n,
                LoadHarness.ms(d.ttftReused.getValueAtPercentile(99)), LoadHarness.ms(t.ttftReused.getValueAtPercentile(99)),
                LoadHarness.ms(t.ttftReused.getValueAtPercentile(99) - d.ttftReused.getValueAtPercentile(99)),
                LoadHarness.ms(d.endWait.getValueAtPercentile(50)), LoadHarness.ms(d.endWait.getValueAtPercentile(99)),
                LoadHarness.ms(t.endWait.getValueAtPercentile(50)), LoadHarness.ms(t.endWait.getValueAtPercentile(99)),
                dCpu.runQueueWait(), tCpu.runQueueWait()));
        streamGoalRows.add(String.format(Locale.ROOT, "| streaming added TTFT p99 at %d streams <= 1 ms | %s ms | %s |", n,
                LoadHarness.ms(addedTtft), addedTtft <= 1_000_000 ? "met" : "missed by " + LoadHarness.ms(addedTtft - 1_000_000) + " ms"));
    }

    /** The last streaming rows, for progress output. */
    String lastStreamRow() {
        return streamRows.get(streamRows.size() - 1) + "\n" + streamDetailRows.get(streamDetailRows.size() - 1);
    }

    String render(String args) throws IOException {
        StringBuilder sb = new StringBuilder();
        sb.append("## Load harness: direct vs through Tollgate").append(quick ? " (quick run)" : "").append("\n\n");
        sb.append("Measured ").append(Instant.now()).append(" on ").append(machine()).append(", JDK ")
                .append(System.getProperty("java.vm.version")).append(".\n\n");
        sb.append("Command: `bash benchmarks/run-load.sh ").append(args).append("`. The simulator and Tollgate run as child ")
                .append("JVMs; the load generator is a Netty client in the harness JVM; all three share the machine's ")
                .append(Runtime.getRuntime().availableProcessors()).append(" cores, so absolute numbers are low and the ")
                .append("ratios are what to read. Tollgate runs with metering on and the account's settlement policy `")
                .append(policy).append("` (`none`: the open proxy, no settlement; otherwise escrows and the journal in ")
                .append("SQLite). Direct and through alternate at each step.\n\n");
        if (!ladderRows.isEmpty()) {
            renderLadder(sb);
        }
        if (!streamRows.isEmpty()) {
            renderStreams(sb);
        }
        sb.append("\n### Goals\n\n| goal | measured | |\n|---|---|---|\n");
        if (!ladderRows.isEmpty()) {
            double ratio = maxDirect == 0 ? 0 : maxThrough / maxDirect;
            sb.append(String.format(Locale.ROOT, "| through/direct max RPS >= 0.7 | %.2f | %s |%n", ratio,
                    ratio >= 0.7 ? "met" : String.format(Locale.ROOT, "missed by %.2f", 0.7 - ratio)));
            sb.append(String.format(Locale.ROOT, "| added p99 <= 0.5 ms at half of direct's max rate | %s ms | %s |%n",
                    LoadHarness.ms(addedP99AtHalf), addedP99AtHalf <= 500_000 ? "met"
                            : "missed by " + LoadHarness.ms(addedP99AtHalf - 500_000) + " ms"));
        }
        streamGoalRows.forEach(r -> sb.append(r).append('\n'));
        if (!streamRows.isEmpty()) {
            sb.append(String.format(Locale.ROOT, "| <= 16 KB heap per in-flight stream | <= %d bytes (RSS bound) | %s |%n",
                    heapPerStreamBytes, heapPerStreamBytes <= 16_384 ? "met" : "not shown by the RSS bound"));
        }
        return sb.toString();
    }

    private void renderLadder(StringBuilder sb) {
        sb.append("### Non-streaming rate ladder (instant upstream, open loop, latency from the intended send time)\n\n");
        sb.append("| target rps | direct | through Tollgate | added p99 ms | throughput through/direct |\n|---|---|---|---|---|\n");
        ladderRows.forEach(r -> sb.append(r).append('\n'));
        sb.append("\nMax sustained rate (achieved >= 90% of target, < 1% errors, p99 < 1 s): direct ")
                .append(String.format(Locale.ROOT, "%.0f", maxDirect)).append(" rps, through ")
                .append(String.format(Locale.ROOT, "%.0f", maxThrough)).append(" rps, ratio ")
                .append(String.format(Locale.ROOT, "%.2f", maxDirect == 0 ? 0 : maxThrough / maxDirect)).append(".\n\n");
        sb.append("At half of direct's max rate:\n\n| rps | direct | through | added p50 ms | added p99 ms | proxy CPU cores |\n|---|---|---|---|---|---|\n")
                .append(halfRow).append("\n\n");
        sb.append("Tollgate's own overhead histogram (`tollgate_overhead_seconds`: total minus upstream time), cumulative ")
                .append("bucket counts after the non-streaming runs:\n\n");
        buckets(sb, overhead);
        sb.append('\n');
    }

    private void renderStreams(StringBuilder sb) {
        sb.append("### Streaming (realistic upstream: TTFT 50 ms, 50 tokens/s per stream, ")
                .append(streamTokens > 0 ? streamTokens + " tokens per stream" : "8-64 tokens per stream, as the simulator picks")
                .append(")\n\n");
        sb.append("| streams | direct TTFT p50 / p99 ms | through TTFT p50 / p99 ms | added TTFT p99 ms | direct gap p50 / p99 ms ")
                .append("| through gap p50 / p99 ms | gap p99 through/direct | streams done direct / through ")
                .append("| cores, direct run: client loop / client JVM / simulator | cores, through run: client loop / client JVM / simulator ")
                .append("| proxy CPU cores | proxy's busiest threads (cores) | proxy peak RSS | RSS per stream (bytes) |\n")
                .append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        streamRows.forEach(r -> sb.append(r).append('\n'));
        sb.append("\n\"RSS per stream\" is (peak RSS under load - RSS idle) / streams: an upper bound on heap per in-flight ")
                .append("stream, since it includes socket buffers and heap the GC has not reclaimed. A client loop near 1.00 ")
                .append("core is the load client saturated: its own delays count in both columns.\n\n");
        sb.append("Where the added time is: time to first token of the streams that were not their connection's first ")
                .append("(each connection's first stream through Tollgate also waits for a new upstream connection), and the ")
                .append("wait from a stream's last token to the end of its response (Tollgate holds `[DONE]` until the ")
                .append("usage record is journaled; the next stream on the connection starts after it), and the seconds per ")
                .append("second the simulator's and Tollgate's threads spent runnable but waiting for a CPU (from ")
                .append("`/proc/PID/task/*/schedstat`; Tollgate idles in the direct run):\n\n")
                .append("| streams | TTFT p99, later streams, direct / through ms | added ms | last token to end, direct p50 / p99 ms ")
                .append("| through p50 / p99 ms | run-queue wait, direct run: simulator / Tollgate (s/s) ")
                .append("| run-queue wait, through run (s/s) |\n|---|---|---|---|---|---|---|\n");
        streamDetailRows.forEach(r -> sb.append(r).append('\n'));
        sb.append('\n');
        sb.append("Settlement lag through Tollgate (`tollgate_settlement_lag_seconds`: a response's end to the commit that ")
                .append("journaled and settled its usage), p99 of each step's records as the histogram bucket it falls under:\n\n")
                .append("| streams | settlement lag p99 |\n|---|---|\n");
        lagRows.forEach(r -> sb.append(r).append('\n'));
        sb.append('\n');
        sb.append("Overhead histogram after the streaming runs:\n\n");
        buckets(sb, streamOverhead);
    }

    void settlementLag(int streams, String p99) {
        lagRows.add("| " + streams + " | " + p99 + " |");
    }

    private static void buckets(StringBuilder sb, List<String[]> buckets) {
        if (buckets.isEmpty()) {
            sb.append("(not scraped)\n");
            return;
        }
        sb.append("| le (s) |");
        buckets.forEach(b -> sb.append(' ').append(b[0]).append(" |"));
        sb.append("\n|---|");
        buckets.forEach(b -> sb.append("---|"));
        sb.append("\n| requests |");
        buckets.forEach(b -> sb.append(' ').append(b[1]).append(" |"));
        sb.append('\n');
    }

    private static String machine() throws IOException {
        String model = "unknown CPU";
        for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
            if (line.startsWith("model name")) {
                model = line.substring(line.indexOf(':') + 1).trim();
                break;
            }
        }
        long memKib = 0;
        for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
            if (line.startsWith("MemTotal:")) {
                memKib = Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return Runtime.getRuntime().availableProcessors() + " x " + model + ", " + memKib / 1024 / 1024 + " GiB";
    }
}
