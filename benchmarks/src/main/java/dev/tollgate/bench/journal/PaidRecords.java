package dev.tollgate.bench.journal;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.pricing.Fees;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.pricing.Price;
import dev.tollgate.escrow.settle.AccountPolicy;
import dev.tollgate.escrow.settle.PolicyKind;
import dev.tollgate.escrow.settle.SettlementConfig;
import dev.tollgate.escrow.settle.SettlementService;
import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.Route;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The journal benchmarks' workload: one {@code per_request} account ("acct", 1,000,000 USDC) paying "worker" on the
 * embedded ledger, and batches of its requests admitted in memory with their usage records (42 prompt and 128
 * completion tokens each).
 *
 * <p>Threading: {@link #admitted} on one thread at a time per service.
 */
public final class PaidRecords {
    private PaidRecords() {
    }

    /** A settlement service with the one paid account, in a new temporary directory. */
    public static SettlementService open(Database.Durability durability) throws IOException {
        AccountPolicy policy = new AccountPolicy(PolicyKind.PER_REQUEST, null, Micros.parse("1000000"), true, 256, 0,
                0, 0, 0, false, 0, 0, AccountPolicy.Quality.OFF);
        return SettlementService.open(new SettlementConfig(Files.createTempDirectory("journal-bench-paid-"),
                "embedded", null, null, Fees.PURPLE_FLEA, 100_000, 3_600_000L, true, false,
                Map.of("*", Price.of("0.15", "0.60", null, null)), Map.of("acct", policy), durability),
                Clock.systemUTC(), null, up -> "worker");
    }

    /** {@code n} requests admitted (their locks queued for the journal), ids from {@code firstSeq}; their records. */
    public static List<UsageRecord> admitted(SettlementService paid, long firstSeq, int n) {
        List<UsageRecord> batch = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            String id = "req-" + (firstSeq + i);
            paid.admit(id, "acct", "worker", "model", 64, 256, 1);
            batch.add(new UsageRecord(id, "acct", "up", "model", Route.CHAT_COMPLETIONS, true, 42, 128,
                    UsageSource.UPSTREAM, 256, 0, 80_000_000, 900_000_000, 820_000_000, 899_000_000,
                    Outcome.COMPLETED, 200));
        }
        return batch;
    }
}
