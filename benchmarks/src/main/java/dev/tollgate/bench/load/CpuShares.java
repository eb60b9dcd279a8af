package dev.tollgate.bench.load;

import java.lang.management.ManagementFactory;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * CPU used during one run by each process on the machine's cores: the load client (its one event loop thread and
 * its whole JVM), the simulator and Tollgate, and Tollgate's busiest threads. A share near 1.0 core for the
 * client's loop thread means the load client itself is saturated, and a latency it measures is partly its own.
 *
 * <p>Threading: created and stopped on the harness's main thread.
 */
final class CpuShares {
    private final LoadHarness.Pair pair;
    private final LoadClient client;
    private final long client0;
    private final long loop0;
    private final double sim0;
    private final double proxy0;
    private final Map<String, Long> threads0;
    private final long simWait0;
    private final long proxyWait0;
    private double simWaiting;
    private double proxyWaiting;
    private double clientCores;
    private double loopCores;
    private double simCores;
    private double proxyCores;
    private final Map<String, Double> proxyThreadCores = new TreeMap<>();

    CpuShares(LoadHarness.Pair pair, LoadClient client) {
        this.pair = pair;
        this.client = client;
        this.client0 = processCpuNanos();
        this.loop0 = client.loopCpuNanos();
        this.sim0 = pair.sim().cpuSeconds();
        this.proxy0 = pair.proxy().cpuSeconds();
        this.threads0 = pair.proxy().threadCpuTicks();
        this.simWait0 = pair.sim().runQueueWaitNanos();
        this.proxyWait0 = pair.proxy().runQueueWaitNanos();
    }

    /** Ends the measurement of a run that lasted {@code seconds}. */
    void stop(double seconds) {
        clientCores = (processCpuNanos() - client0) / 1e9 / seconds;
        loopCores = (client.loopCpuNanos() - loop0) / 1e9 / seconds;
        simCores = (pair.sim().cpuSeconds() - sim0) / seconds;
        proxyCores = (pair.proxy().cpuSeconds() - proxy0) / seconds;
        simWaiting = (pair.sim().runQueueWaitNanos() - simWait0) / 1e9 / seconds;
        proxyWaiting = (pair.proxy().runQueueWaitNanos() - proxyWait0) / 1e9 / seconds;
        pair.proxy().threadCpuTicks().forEach((name, ticks) -> {
            double c = (ticks - threads0.getOrDefault(name, 0L)) / 100.0 / seconds;
            if (c >= 0.01) {
                proxyThreadCores.put(name, c);
            }
        });
    }

    double proxyCores() {
        return proxyCores;
    }

    /**
     * "simulator / Tollgate" seconds per second their threads were runnable but waiting for a CPU: near or above
     * their CPU share, the machine (not the process's own work) sets their latency.
     */
    String runQueueWait() {
        return String.format(Locale.ROOT, "%.2f / %.2f", simWaiting, proxyWaiting);
    }

    /** "client loop / client JVM / simulator" cores. */
    String loadSide() {
        return String.format(Locale.ROOT, "%.2f / %.2f / %.2f", loopCores, clientCores, simCores);
    }

    /** Tollgate's five busiest threads, e.g. "multiThreadIoEv 0.41, multiThreadIoEv 0.33, tollgate-journa 0.10". */
    String proxyThreads() {
        StringBuilder sb = new StringBuilder();
        proxyThreadCores.entrySet().stream().sorted(Map.Entry.<String, Double>comparingByValue().reversed()).limit(5)
                .forEach(e -> sb.append(sb.isEmpty() ? "" : ", ").append(e.getKey(), 0, e.getKey().lastIndexOf('/'))
                        .append(String.format(Locale.ROOT, " %.2f", e.getValue())));
        return sb.toString();
    }

    private static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }
}
