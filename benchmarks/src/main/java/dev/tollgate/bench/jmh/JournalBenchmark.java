package dev.tollgate.bench.jmh;

import dev.tollgate.bench.journal.PaidRecords;
import dev.tollgate.escrow.db.Database;
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
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Usage records persisted in the durable journal: appended to the usage log by the calling thread (as the metering
 * thread does, 256 per batch), then committed to SQLite by the journal's writer; each invocation waits for that
 * commit, so the score (records per second) includes it.
 *
 * <ul>
 *   <li>{@code journalBatch}: metering only (no settlement), the default durability;</li>
 *   <li>{@code paidBatch}: each record of a {@code per_request} account on the embedded ledger, admitted in memory
 *       first, so every commit carries the admitted locks, the records, their releases and refunds (about ten
 *       ledger writes per record); with {@code durability} {@code PROCESS} (default, no fsync per commit) and
 *       {@code POWER} (fsync per commit), to show what power-loss safety costs.</li>
 * </ul>
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
    private SettlementService paid;
    private long seq;

    @Param({"PROCESS", "POWER"})
    public String durability;

    @Setup(Level.Trial)
    public void open() throws Exception {
        service = SettlementService.open(SettlementConfig.disabled(Files.createTempDirectory("journal-bench-")),
                Clock.systemUTC(), null, up -> up);
        paid = PaidRecords.open(Database.Durability.valueOf(durability));
    }

    @TearDown(Level.Trial)
    public void close() {
        service.close();
        paid.close();
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void paidBatch() {
        List<UsageRecord> batch = PaidRecords.admitted(paid, seq, BATCH);
        seq += BATCH;
        paid.usageListener().onUsage(batch);
        paid.awaitJournaled(); // Counted once committed, not once logged.
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
        service.awaitJournaled();
    }
}
