package dev.tollgate.bench.journal;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.settle.SettlementService;
import dev.tollgate.metering.UsageRecord;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Sustained journal throughput with settlement: {@code per_request} records admitted in memory and handed to the
 * journal in batches of 256, as fast as the journal takes them (its back-pressure bounds what waits), then one wait
 * for the last commit. Prints records per second over the whole round (wall clock, the final wait included) and
 * CPU per record of each application thread. Rounds before the last warm the JIT and are not printed.
 *
 * <p>Unlike JMH's {@code JournalBenchmark.paidBatch}, whose every invocation waits for its own commit (the caller
 * and the writer take turns), this keeps the writer busy the way a loaded proxy does. Used by
 * {@code benchmarks/run-journal.sh}, which alternates it with an older build in the same run.
 *
 * <pre>java -cp benchmarks/target/benchmarks.jar dev.tollgate.bench.journal.JournalThroughput [records] [rounds]</pre>
 */
public final class JournalThroughput {
    private static final int BATCH = 256;

    private JournalThroughput() {
    }

    public static void main(String[] args) throws Exception {
        int records = args.length > 0 ? Integer.parseInt(args[0]) : 51_200;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        SettlementService paid = PaidRecords.open(Database.Durability.PROCESS);
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        long seq = 0;
        for (int round = 1; round <= rounds; round++) {
            Map<String, Long> cpuBefore = cpuByThread(mx);
            long start = System.nanoTime();
            for (int sent = 0; sent < records; sent += BATCH) {
                List<UsageRecord> batch = PaidRecords.admitted(paid, seq, BATCH);
                seq += BATCH;
                paid.usageListener().onUsage(batch);
            }
            paid.statement("acct"); // A read: waits until the writer committed everything handed over.
            long wall = System.nanoTime() - start;
            if (round < rounds) {
                continue;
            }
            Map<String, Long> cpuAfter = cpuByThread(mx);
            long all = 0;
            StringBuilder per = new StringBuilder();
            for (Map.Entry<String, Long> e : new TreeMap<>(cpuAfter).entrySet()) {
                long used = e.getValue() - cpuBefore.getOrDefault(e.getKey(), 0L);
                String name = e.getKey();
                if (used < 1_000_000 || name.startsWith("C1") || name.startsWith("C2") || name.startsWith("G1")) {
                    continue; // JIT compilers and GC are the JVM's, not the journal's.
                }
                all += used;
                per.append(String.format(" %s=%.1f", name, used / 1000.0 / records));
            }
            System.out.printf("records=%d records_per_s=%.0f cpu_us_per_record=%.1f [%s] conservation=%s%n", records,
                    records / (wall / 1e9), all / 1000.0 / records, per.toString().trim(),
                    paid.conservation().holds());
        }
        paid.close();
    }

    private static Map<String, Long> cpuByThread(ThreadMXBean mx) {
        Map<String, Long> out = new HashMap<>();
        for (long id : mx.getAllThreadIds()) {
            ThreadInfo info = mx.getThreadInfo(id);
            long cpu = mx.getThreadCpuTime(id);
            if (info != null && cpu > 0) {
                out.merge(info.getThreadName(), cpu, Long::sum);
            }
        }
        return out;
    }
}
