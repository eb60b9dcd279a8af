package dev.tollgate.escrow.settle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.Route;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A group commit writes its requests' usage, settlement and escrow rows several rows per statement (statements of
 * 32, 16, ..., 1 rows): every row must still hold its own request's values, and a record handed twice in one commit
 * must still be journaled and paid once. Amounts by hand: a prompt token costs 1,000 micro-USDC and a completion
 * token 3,000 ({@link JournalHereTest}'s prices); the worker gets the pair's total less 1%, rounded down.
 */
class ManyRowsPerCommitTest {
    static final String PAYER = UsageLogReplayTest.PAYER;
    static final String WORKER = UsageLogReplayTest.WORKER;
    static final int REQUESTS = 37; // 32 + 4 + 1 rows: three statement sizes.

    /** Request i: 10 + i prompt tokens, 20 completion tokens, its own times, so a column bound to the wrong row shows. */
    static UsageRecord record(int i) {
        return new UsageRecord("r" + i, PAYER, "sim", "m" + i, Route.CHAT_COMPLETIONS, i % 2 == 0, 10 + i, 20,
                UsageSource.UPSTREAM, 100 + i, 1_000 + i, (1_000 + i) * 1_000L, (2_000 + i) * 1_000L,
                (1_500 + i) * 1_000L, (1_900 + i) * 1_000L, Outcome.COMPLETED, 200);
    }

    @Test
    void thirtySevenRequestsInOneCommitEachKeepTheirOwnRowsAndTheStatementAddsUp() throws Exception {
        Path dir = Files.createTempDirectory("many-rows-");
        List<UsageRecord> records = new ArrayList<>();
        try (SettlementService s = new JournalHereTest().open(dir, Database.Durability.PROCESS)) {
            for (int i = 0; i < REQUESTS; i++) {
                // An estimate of 50 prompt tokens and 20 completion tokens: 110,000 reserved, more than any cost.
                assertTrue(s.admit("r" + i, PAYER, WORKER, "m" + i, 50, 20).get().admitted());
                records.add(record(i));
            }
            // One batch: the locks and the records reach the writer together, as one commit.
            s.usageListener().onUsage(records);
            s.awaitJournaled();
            for (int i = 0; i < REQUESTS; i++) {
                assertEquals(records.get(i), s.usage("r" + i), "usage row of r" + i);
                SettlementView v = s.settlement("r" + i).orElseThrow();
                long cost = (10 + i) * 1_000L + 20 * 3_000L;
                assertEquals("settled", v.state(), "r" + i);
                assertEquals(110_000, v.reservedMicros(), "r" + i);
                assertEquals(cost, v.costMicros(), "r" + i);
                assertEquals(cost, v.releasedMicros(), "r" + i);
                assertEquals(110_000 - cost, v.refundedMicros(), "r" + i);
            }
            // Costs 70,000 + 1,000 i for i = 0..36: 37 x 70,000 + 1,000 x 666 = 3,256,000; fees 1% = 32,560.
            assertEquals(10_000_000 - 3_256_000, s.statement(PAYER).balanceMicros());
            assertEquals(3_256_000, s.statement(PAYER).spentMicros());
            assertEquals(3_256_000 - 32_560, s.statement(WORKER).balanceMicros());
            assertEquals(REQUESTS, escrowRows(s));
            assertTrue(s.conservation().holds(), s.conservation().toString());
        }
        try (SettlementService again = new JournalHereTest().open(dir, Database.Durability.PROCESS)) {
            assertEquals(10_000_000 - 3_256_000, again.statement(PAYER).balanceMicros(), "nothing settled again");
            assertEquals(records.get(36), again.usage("r36"));
        }
    }

    @Test
    void aRecordHandedTwiceInOneCommitIsJournaledAndPaidOnce() throws Exception {
        Path dir = Files.createTempDirectory("many-rows-twice-");
        try (SettlementService s = new JournalHereTest().open(dir, Database.Durability.PROCESS)) {
            assertTrue(s.admit("r0", PAYER, WORKER, "m0", 50, 20).get().admitted());
            assertTrue(s.admit("r1", PAYER, WORKER, "m1", 50, 20).get().admitted());
            // r0 twice in the batch that also carries its lock: the commit's multi-row usage insert refuses the
            // second copy; the journal retries the batch entry by entry, which journals r0 once and ignores the copy.
            s.usageListener().onUsage(List.of(record(0), record(1), record(0)));
            s.awaitJournaled();
            assertFalse(s.quarantined("r0"));
            assertFalse(s.quarantined("r1"));
            assertEquals(record(0), s.usage("r0"));
            assertEquals(record(1), s.usage("r1"));
            assertEquals(70_000, s.settlement("r0").orElseThrow().releasedMicros());
            assertEquals(71_000, s.settlement("r1").orElseThrow().releasedMicros());
            // 70,000 + 71,000 = 141,000 paid, once each; the worker gets 141,000 less 1% (1,410).
            assertEquals(10_000_000 - 141_000, s.statement(PAYER).balanceMicros());
            assertEquals(141_000 - 1_410, s.statement(WORKER).balanceMicros());
            int usageRows = s.database().transaction(c -> {
                try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM usage");
                     ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? rs.getInt(1) : -1;
                }
            });
            assertEquals(2, usageRows);
            assertTrue(s.conservation().holds(), s.conservation().toString());
        }
    }

    private static int escrowRows(SettlementService s) {
        return s.database().transaction(c -> {
            try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM escrow WHERE status = 'closed' "
                    + "AND id LIKE 'req-r%'"); ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getInt(1) : -1;
            }
        });
    }
}
