package dev.tollgate.bench.jmh;

import dev.tollgate.escrow.settle.SettlementConfig;
import dev.tollgate.escrow.settle.SettlementService;
import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.Route;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import java.nio.file.Files;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Usage records persisted in the durable journal (SQLite, WAL, synchronous=FULL), 256 per transaction as the
 * metering thread batches them (group commit). Score is records per second.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class JournalBenchmark {
    private static final int BATCH = 256;
    private SettlementService service;
    private long seq;

    @Setup(Level.Trial)
    public void open() throws Exception {
        service = SettlementService.open(SettlementConfig.disabled(Files.createTempDirectory("journal-bench-")),
                Clock.systemUTC(), null, up -> up);
    }

    @TearDown(Level.Trial)
    public void close() {
        service.close();
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void journalBatch() {
        List<UsageRecord> batch = new ArrayList<>(BATCH);
        for (int i = 0; i < BATCH; i++) {
            batch.add(new UsageRecord("req-" + (seq++), "acct", "up", "model", Route.CHAT_COMPLETIONS, true, 42, 128,
                    UsageSource.UPSTREAM, 256, 0, 80_000_000, 900_000_000, 820_000_000, 899_000_000,
                    Outcome.COMPLETED, 200));
        }
        service.usageListener().onUsage(batch);
    }
}
