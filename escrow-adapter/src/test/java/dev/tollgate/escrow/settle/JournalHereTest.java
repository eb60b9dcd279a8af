package dev.tollgate.escrow.settle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.escrow.TestClock;
import dev.tollgate.escrow.db.AppendLog;
import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.pricing.Fees;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.pricing.Price;
import dev.tollgate.metering.UsageRecord;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A usage record appended to the usage log by the thread that ends its response ({@link SettlementService#journalHere})
 * instead of the metering thread: in the log, after the lock admitted for it, as soon as the call returns; journaled
 * and settled exactly as a record the metering thread appended; and refused (left to the metering thread) where
 * appending on the caller would mean an fsync.
 */
class JournalHereTest {
    static final String PAYER = UsageLogReplayTest.PAYER;
    static final String WORKER = UsageLogReplayTest.WORKER;
    final TestClock clock = new TestClock();

    SettlementService open(Path dir, Database.Durability durability) {
        AccountPolicy perRequest = new AccountPolicy(PolicyKind.PER_REQUEST, null, Micros.parse("10.00"), true, 100, 0,
                0, 0, 0, false, 0, 0, AccountPolicy.Quality.OFF);
        SettlementConfig cfg = new SettlementConfig(dir, "embedded", null, null, Fees.PURPLE_FLEA, 100_000,
                3_600_000L, true, false, Map.of("*", Price.of("1000", "3000", null, null)),
                Map.of(PAYER, perRequest), durability);
        return SettlementService.open(cfg, clock, null, up -> WORKER);
    }

    /** Every entry of the log, decoded, in order (read as another process would, without owning it). */
    static List<Object> logged(Path dir) {
        List<Object> out = new ArrayList<>();
        AppendLog.read(dir.resolve("usage-log"), -1, (seq, payload) -> out.add(JournalEntries.read(payload)));
        return out;
    }

    @Test
    void aRecordAppendedOnItsOwnThreadIsLoggedAfterItsLockAndSettlesLikeOneTheMeteringThreadAppended()
            throws Exception {
        Path dir = Files.createTempDirectory("journal-here-");
        try (SettlementService s = open(dir, Database.Durability.PROCESS)) {
            // r0 the usual way: the metering thread's listener appends its lock and record (and opens the segment).
            assertTrue(s.admit("r0", PAYER, WORKER, "m", 10, 20).get().admitted());
            s.usageListener().onUsage(List.of(UsageLogReplayTest.usage("r0")));
            int before = logged(dir).size();

            assertTrue(s.admit("r1", PAYER, WORKER, "m", 10, 20).get().admitted());
            UsageRecord r1 = UsageLogReplayTest.usage("r1");
            assertTrue(s.journalHere(r1), "appended on the caller");
            // In the log as soon as the call returns, the lock admitted before it first: what a restart replays.
            List<Object> after = logged(dir);
            assertEquals(before + 2, after.size(), "the lock and the record");
            LedgerIntents.Lock lock = assertInstanceOf(LedgerIntents.Lock.class, after.get(before));
            assertEquals("r1", lock.requestId());
            assertEquals(r1, assertInstanceOf(JournalEntries.LoggedUsage.class, after.get(before + 1)).record());

            s.awaitJournaled();
            SettlementView v0 = s.settlement("r0").orElseThrow();
            SettlementView v1 = s.settlement("r1").orElseThrow();
            // 10 prompt tokens at 0.001 and 20 completion tokens at 0.003: 0.07 USDC each, the rest of the hold back.
            for (SettlementView v : List.of(v0, v1)) {
                assertEquals("settled", v.state());
                assertEquals(70_000, v.costMicros());
                assertEquals(70_000, v.releasedMicros());
                assertEquals(v.reservedMicros() - 70_000, v.refundedMicros());
            }
            assertEquals(v0.reservedMicros(), v1.reservedMicros());
            assertEquals(10_000_000 - 140_000, s.statement(PAYER).balanceMicros());
            assertEquals(2 * 69_300, s.statement(WORKER).balanceMicros(), "0.07 less the 1% fee, twice");
            assertTrue(s.conservation().holds());
        }
        try (SettlementService again = open(dir, Database.Durability.PROCESS)) {
            assertEquals(10_000_000 - 140_000, again.statement(PAYER).balanceMicros(), "settled once, not at restart");
        }
    }

    @Test
    void withPowerDurabilityTheCallerNeverAppendsBecauseEachAppendIsAnFsync() throws Exception {
        Path dir = Files.createTempDirectory("journal-here-power-");
        try (SettlementService s = open(dir, Database.Durability.POWER)) {
            assertTrue(s.admit("r0", PAYER, WORKER, "m", 10, 20).get().admitted());
            s.usageListener().onUsage(List.of(UsageLogReplayTest.usage("r0")));
            int before = logged(dir).size();
            assertTrue(s.admit("r1", PAYER, WORKER, "m", 10, 20).get().admitted());
            assertFalse(s.journalHere(UsageLogReplayTest.usage("r1")), "left to the metering thread");
            assertEquals(before, logged(dir).size(), "nothing appended, not even the lock");
        }
    }

    @Test
    void beforeTheLogHasASegmentTheCallerLeavesTheRecordToTheMeteringThread() throws Exception {
        Path dir = Files.createTempDirectory("journal-here-first-");
        try (SettlementService s = open(dir, Database.Durability.PROCESS)) {
            assertTrue(s.admit("r0", PAYER, WORKER, "m", 10, 20).get().admitted());
            // Opening the first segment creates and maps a file: not on an event loop.
            assertFalse(s.journalHere(UsageLogReplayTest.usage("r0")));
            assertEquals(List.of(), logged(dir));
        }
    }
}
