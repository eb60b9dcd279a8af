package dev.tollgate.escrow.settle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.escrow.TestClock;
import dev.tollgate.escrow.db.AppendLog;
import dev.tollgate.escrow.pricing.Fees;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.pricing.Price;
import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.Route;
import dev.tollgate.metering.TraceLink;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * What the usage log is for: a record whose response ended (its entry appended) but whose group commit never ran,
 * because the process died, is journaled and settled once at the next start.
 */
class UsageLogReplayTest {
    static final String PAYER = "ag_payer";
    static final String WORKER = "ag_worker";
    final TestClock clock = new TestClock();

    SettlementService open(Path dir) {
        AccountPolicy perRequest = new AccountPolicy(PolicyKind.PER_REQUEST, null, Micros.parse("10.00"), true, 100, 0,
                0, 0, 0, false, 0, 0, AccountPolicy.Quality.OFF);
        SettlementConfig cfg = new SettlementConfig(dir, "embedded", null, null, Fees.PURPLE_FLEA, 100_000,
                3_600_000L, true, false, Map.of("*", Price.of("1000", "3000", null, null)),
                Map.of(PAYER, perRequest));
        return SettlementService.open(cfg, clock, null, up -> WORKER);
    }

    static UsageRecord usage(String id) {
        return new UsageRecord(id, PAYER, "sim", "m", Route.CHAT_COMPLETIONS, true, 10, 20, UsageSource.UPSTREAM, 100,
                0, 1_000_000, 2_000_000, 1_000_000, 2_000_000, Outcome.COMPLETED, 200);
    }

    @Test
    void aRecordTheProcessDiedHoldingIsJournaledAndSettledOnceAtTheNextStart() throws Exception {
        Path dir = Files.createTempDirectory("usage-log-");
        try (SettlementService first = open(dir)) {
            assertEquals(10_000_000, first.statement(PAYER).balanceMicros(), "funded by configuration");
        }
        // What a process appends for a request between its response's end and its group commit: the lock admitted
        // for it, then its usage record. Nothing reaches the database.
        try (AppendLog log = AppendLog.open(dir.resolve("usage-log"), UsageLogs.SEGMENT_BYTES, false, 0)) {
            log.append(new LedgerIntents.Lock("r1", PAYER, WORKER, "m", 500_000, clock.millis() + 3_600_000L),
                    JournalEntries::writeIntent);
            log.append(usage("r1"), (r, out) -> JournalEntries.writeUsage(r, null, out));
        }

        try (SettlementService second = open(dir)) {
            assertNotNull(second.usage("r1"), "journaled from the log");
            SettlementView v = second.settlement("r1").orElseThrow();
            // 10 prompt tokens at 0.001 and 20 completion tokens at 0.003: 0.07 USDC, from a 0.50 hold.
            assertEquals("settled", v.state());
            assertEquals(70_000, v.costMicros());
            assertEquals(500_000, v.reservedMicros());
            assertEquals(70_000, v.releasedMicros());
            assertEquals(430_000, v.refundedMicros());
            assertEquals(9_930_000, second.statement(PAYER).balanceMicros());
            assertEquals(69_300, second.statement(WORKER).balanceMicros(), "0.07 less the 1% fee");
            assertTrue(second.conservation().holds());
        }
        try (SettlementService third = open(dir)) {
            assertEquals(9_930_000, third.statement(PAYER).balanceMicros(), "replayed once, not at every start");
            assertEquals(69_300, third.statement(WORKER).balanceMicros());
        }
    }

    @Test
    void aRecordIsReadBackAsItWasWrittenTraceAndReservationIncluded() {
        UsageRecord r = new UsageRecord("req-é1", "acct", "up", "model-ü", Route.COMPLETIONS, false, 7, 9,
                UsageSource.ESTIMATED, 64, 1_700_000_000_000L, -1, 5_000, -1, 4_000, Outcome.CLIENT_DISCONNECTED, 499,
                new TraceLink("trace-1", "sess", null, List.of("a", "b"), "gen"));
        ByteBuffer b = ByteBuffer.allocate(4096);
        JournalEntries.writeUsage(r, new StreamBudgetPolicy.Reservation("budget-3", 123_456), b);
        b.flip();
        JournalEntries.LoggedUsage back = (JournalEntries.LoggedUsage) JournalEntries.read(b);
        assertEquals(r, back.record());
        assertEquals(new StreamBudgetPolicy.Reservation("budget-3", 123_456), back.reservation());
        assertEquals(0, b.remaining(), "read to the end");
    }
}
