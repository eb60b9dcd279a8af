package dev.tollgate.escrow.settle;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.escrow.TestClock;
import dev.tollgate.escrow.pricing.Fees;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.pricing.Price;
import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.Route;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The settlement lag an operator reads on {@code /metrics}: from a response's end to the commit that journaled and
 * settled its record. The clock is held still, so the lag is exactly what the records say.
 */
class SettlementLagTest {
    @Test
    void eachRecordsLagFromItsResponsesEndToItsCommitIsInTheHistogram() throws Exception {
        TestClock clock = new TestClock();
        AccountPolicy policy = new AccountPolicy(PolicyKind.PER_REQUEST, null, Micros.parse("5"), true, 100, 0, 0, 0,
                0, false, 0, 0, AccountPolicy.Quality.OFF);
        SettlementConfig cfg = new SettlementConfig(Files.createTempDirectory("lag-"), "embedded", null, null,
                Fees.PURPLE_FLEA, 100_000, 3_600_000L, true, true, Map.of("*", Price.of("1000", "3000", null, null)),
                Map.of("ag_payer", policy));
        try (SettlementService service = SettlementService.open(cfg, clock, null, up -> "ag_worker")) {
            long now = clock.millis();
            // Started 2.5 s and 40 ms before the commit, each lasting 1 ms: lags of 2,499 ms and 39 ms.
            for (String[] r : new String[][] {{"slow", "2500"}, {"quick", "40"}}) {
                assertTrue(service.admit(r[0], "ag_payer", "ag_worker", "m", 3, 10).get().admitted());
                service.usageListener().onUsage(List.of(new UsageRecord(r[0], "ag_payer", "sim", "m",
                        Route.CHAT_COMPLETIONS, false, 3, 10, UsageSource.UPSTREAM, 10,
                        now - Long.parseLong(r[1]), 1_000_000, 0, -1, 0, Outcome.COMPLETED, 200)));
            }
            service.awaitJournaled();
            StringBuilder out = new StringBuilder();
            service.writePrometheus(out);
            String text = out.toString();
            assertTrue(text.contains("tollgate_settlement_lag_seconds_bucket{le=\"0.025\"} 0\n"), text);
            assertTrue(text.contains("tollgate_settlement_lag_seconds_bucket{le=\"0.05\"} 1\n"), text);
            assertTrue(text.contains("tollgate_settlement_lag_seconds_bucket{le=\"2\"} 1\n"), text);
            assertTrue(text.contains("tollgate_settlement_lag_seconds_bucket{le=\"5\"} 2\n"), text);
            assertTrue(text.contains("tollgate_settlement_lag_seconds_count 2\n"), text);
        }
    }
}
