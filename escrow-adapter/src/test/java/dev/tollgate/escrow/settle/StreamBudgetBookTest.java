package dev.tollgate.escrow.settle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.escrow.TestClock;
import dev.tollgate.escrow.db.AppendLog;
import dev.tollgate.escrow.port.EscrowState;
import dev.tollgate.escrow.pricing.Fees;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.pricing.Price;
import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.Route;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Stream budgets with their rows in memory: the amounts of a budget's life (batched releases, the next escrow
 * opened at admission, the replaced one closed after its last request), one write of the row per commit, a
 * rolled-back commit, and a crash between admission and commit. Amounts are hand-computed from the price: 1,000
 * micro-USDC per prompt token and 3,000 per completion token, so a request of 3 prompt and 10 completion tokens
 * costs 33,000 and the worst case of 3 prompt and 20 completion tokens is 63,000.
 */
class StreamBudgetBookTest {
    static final String PAYER = "ag_payer";
    static final String WORKER = "ag_worker";
    static final long COST = 3 * 1_000 + 10 * 3_000;
    final TestClock clock = new TestClock();
    SettlementService service;

    static AccountPolicy budget(String fund, String budget, int batchCalls) {
        return new AccountPolicy(PolicyKind.STREAM_BUDGET, null, Micros.parse(fund), true, 100,
                Micros.parse(budget), batchCalls, 0, 0, true, 0, 0, AccountPolicy.Quality.OFF);
    }

    SettlementService open(Path dir, AccountPolicy policy) {
        SettlementConfig cfg = new SettlementConfig(dir, "embedded", null, null, Fees.PURPLE_FLEA, 100_000,
                3_600_000L, true, true, Map.of("*", Price.of("1000", "3000", null, null)), Map.of(PAYER, policy));
        service = SettlementService.open(cfg, clock, null, up -> WORKER);
        return service;
    }

    @AfterEach
    void close() {
        if (service != null) {
            service.close();
        }
    }

    static UsageRecord usage(String id, long prompt, long completion) {
        return new UsageRecord(id, PAYER, "sim", "m", Route.CHAT_COMPLETIONS, true, prompt, completion,
                UsageSource.UPSTREAM, 20, 0, 1_000_000, 0, -1, 0, Outcome.COMPLETED, 200);
    }

    String admit(String requestId) throws Exception {
        Admission a = service.admit(requestId, PAYER, WORKER, "m", 3, 20).get();
        assertTrue(a.admitted(), a.message());
        return a.escrowId();
    }

    void journal(UsageRecord... records) {
        service.usageListener().onUsage(List.of(records));
        service.settleNow();
    }

    long sql(String query) {
        return service.database().transaction(c -> {
            try (PreparedStatement ps = c.prepareStatement(query); ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : -1;
            }
        });
    }

    @Test
    void aBudgetReleasesEveryThirdCallOpensTheNextEscrowAndClosesTheReplacedOne() throws Exception {
        open(Files.createTempDirectory("budget-"), budget("5", "0.50", 3));
        List<String> escrows = new ArrayList<>();
        for (int i = 1; i <= 15; i++) {
            escrows.add(admit("s" + i));
            journal(usage("s" + i, 3, 10));
        }
        // 0.50 holds request k (worst case 63,000) while 500,000 - 33,000 x (k - 1) >= 63,000: requests 1 to 14.
        String first = escrows.get(0);
        for (int i = 0; i < 14; i++) {
            assertEquals(first, escrows.get(i), "request " + (i + 1));
        }
        String second = escrows.get(14);
        assertNotEquals(first, second, "the fifteenth request opened the next escrow");
        // Releases after calls 3, 6, 9 and 12 (cumulative 99,000 ... 396,000); the replaced escrow closed at the
        // next escrow's lock, its last request settled: 14 x 33,000 = 462,000 released, 38,000 refunded.
        EscrowState closed = service.ledger().read(first);
        assertFalse(closed.open());
        assertEquals(500_000, closed.lockedMicros());
        assertEquals(462_000, closed.releasedMicros());
        assertEquals(38_000, closed.refundedMicros());
        String releases = " WHERE kind = 'RELEASE' AND escrow_id = '" + first + "'";
        assertEquals(5, sql("SELECT (SELECT COUNT(*) FROM settle_op" + releases + ") + (SELECT COUNT(*) FROM "
                + "settle_op_archive" + releases + ")"), "four batches and the close");
        EscrowState open = service.ledger().read(second);
        assertTrue(open.open());
        assertEquals(500_000, open.lockedMicros());
        assertEquals(0, open.releasedMicros(), "one call so far: no batch yet");
        assertEquals("released", service.settlement("s14").orElseThrow().state());
        assertEquals("batched", service.settlement("s15").orElseThrow().state());
        assertEquals(COST, service.settlement("s15").orElseThrow().costMicros());
        assertEquals(5_000_000 - 462_000 - 500_000, service.ledger().balance(PAYER));
        assertEquals(462_000 - 4_620, service.ledger().balance(WORKER), "less the 1% fee");
        assertTrue(service.conservation().holds());

        assertEquals(1, service.closeBudgets(PAYER));
        service.settleNow();
        assertEquals(COST, service.ledger().read(second).releasedMicros());
        assertEquals(5_000_000 - 15 * COST, service.ledger().balance(PAYER));
        assertTrue(service.conservation().holds());
    }

    @Test
    void aGroupCommitWritesEachChangedBudgetOnceNotOncePerRecord() throws Exception {
        open(Files.createTempDirectory("budget-"), budget("10", "5.00", 0));
        admit("warm");
        journal(usage("warm", 3, 10));
        service.database().transaction(c -> {
            try (var s = c.createStatement()) {
                s.execute("CREATE TEMP TABLE budget_writes (n INTEGER)");
                s.execute("CREATE TEMP TRIGGER budget_updated AFTER UPDATE ON main.budget BEGIN "
                        + "INSERT INTO budget_writes VALUES (1); END");
                s.execute("CREATE TEMP TRIGGER budget_inserted AFTER INSERT ON main.budget BEGIN "
                        + "INSERT INTO budget_writes VALUES (1); END");
            }
            return null;
        });
        List<UsageRecord> batch = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            admit("b" + i);
            batch.add(usage("b" + i, 3, 10));
        }
        journal(batch.toArray(new UsageRecord[0]));
        assertEquals(1, sql("SELECT COUNT(*) FROM budget_writes"), "50 records, one budget, one commit");
        assertEquals(51 * COST * 1_000_000L, sql("SELECT cost_pico FROM budget"));
        assertEquals(51, sql("SELECT calls_since FROM budget"));
    }

    @Test
    void aRolledBackGroupCommitLeavesTheBudgetAsTheDatabaseKeptIt() throws Exception {
        Path dir = Files.createTempDirectory("budget-");
        open(dir, budget("5", "1.00", 100));
        String escrow = admit("warm");
        journal(usage("warm", 3, 10));
        admit("good1");
        admit("poison");
        admit("good2");
        // A count whose cost overflows the price arithmetic fails the group commit after good1 accrued in memory;
        // the commit is rolled back and its records journaled one by one (the poisonous one quarantined).
        journal(usage("good1", 3, 10), usage("poison", 3, Long.MAX_VALUE / 2), usage("good2", 3, 10));
        assertEquals("batched", service.settlement("good1").orElseThrow().state());
        assertEquals("batched", service.settlement("good2").orElseThrow().state());
        assertTrue(service.settlement("poison").isEmpty());
        // warm + good1 + good2, each counted once.
        assertEquals(3 * COST * 1_000_000L, sql("SELECT cost_pico FROM budget"));
        assertEquals(3, sql("SELECT calls_since FROM budget"));
        assertEquals(1, service.closeBudgets(PAYER));
        service.settleNow();
        assertEquals(3 * COST, service.ledger().read(escrow).releasedMicros());
        assertEquals(1_000_000 - 3 * COST, service.ledger().read(escrow).refundedMicros());
        assertEquals(5_000_000 - 3 * COST, service.ledger().balance(PAYER));
        assertTrue(service.conservation().holds());
    }

    @Test
    void aNextEscrowAndItsRequestTheProcessDiedHoldingAreWrittenOnceAtTheNextStart() throws Exception {
        Path dir = Files.createTempDirectory("budget-");
        String previous;
        try (SettlementService first = open(dir, budget("5", "0.50", 100))) {
            previous = admit("before");
            journal(usage("before", 3, 10));
        }
        service = null;
        // What a process appends between admitting a request on a new escrow and its group commit: the escrow
        // opened in memory (replacing the open one), then the request's record with its reservation.
        long expires = clock.millis() + 3_600_000L;
        try (AppendLog log = AppendLog.open(dir.resolve("usage-log"), UsageLogs.SEGMENT_BYTES, false, 0)) {
            log.append(new StreamBudgetPolicy.Open("bud-next", PAYER, WORKER, 500_000, expires, previous),
                    JournalEntries::writeIntent);
            log.append(usage("after", 3, 10), (r, out) -> JournalEntries.writeUsage(r,
                    new StreamBudgetPolicy.Reservation("bud-next", 63_000), out));
        }
        try (SettlementService second = open(dir, budget("5", "0.50", 100))) {
            second.settleNow();
            EscrowState replaced = second.ledger().read(previous);
            assertFalse(replaced.open(), "the replaced escrow closed once replayed");
            assertEquals(COST, replaced.releasedMicros());
            assertEquals(500_000 - COST, replaced.refundedMicros());
            EscrowState next = second.ledger().read("bud-next");
            assertTrue(next.open());
            assertEquals(500_000, next.lockedMicros());
            assertEquals("batched", second.settlement("after").orElseThrow().state());
            assertEquals(COST, second.settlement("after").orElseThrow().costMicros());
            assertEquals(5_000_000 - COST - 500_000, second.ledger().balance(PAYER));
            assertTrue(second.conservation().holds());
            // The next request of the pair uses the replayed escrow.
            assertEquals("bud-next", admit("later"));
        }
        service = null;
        try (SettlementService third = open(dir, budget("5", "0.50", 100))) {
            assertEquals(5_000_000 - COST - 500_000, third.ledger().balance(PAYER), "replayed once");
            assertEquals(1, third.closeBudgets(PAYER));
            third.settleNow();
            assertEquals(COST, third.ledger().read("bud-next").releasedMicros());
            assertEquals(5_000_000 - 2 * COST, third.ledger().balance(PAYER));
            assertTrue(third.conservation().holds());
        }
        service = null;
    }

    @Test
    void aRequestStillRunningWhenItsBudgetIsClosedPaysFromTheBalance() throws Exception {
        open(Files.createTempDirectory("budget-"), budget("5", "1.00", 100));
        String escrow = admit("running");
        service.settleNow();
        assertEquals(1, service.closeBudgets(PAYER));
        // Its record arrives after the close: the closed escrow holds nothing for it, the balance pays 33,000.
        journal(usage("running", 3, 10));
        EscrowState closed = service.ledger().read(escrow);
        assertEquals(0, closed.releasedMicros());
        assertEquals(1_000_000, closed.refundedMicros());
        assertEquals(COST, service.settlement("running").orElseThrow().costMicros());
        assertEquals(5_000_000 - COST, service.ledger().balance(PAYER));
        assertEquals(COST - 330, service.ledger().balance(WORKER), "less the 1% fee");
        assertNotEquals(escrow, admit("next"), "the payer's next request opens a new budget");
        assertTrue(service.conservation().holds());
    }

    @Test
    void aQuarantinedRecordGivesItsReservationBackSoItsReplacedBudgetCloses() throws Exception {
        open(Files.createTempDirectory("budget-"), budget("5", "0.10", 100));
        // 0.10 holds one worst case (63,000); the second request opens the next escrow and the first one drains.
        String first = admit("poison");
        String second = admit("next");
        assertNotEquals(first, second);
        // A count whose cost overflows the price arithmetic: the record cannot be journaled and is quarantined.
        journal(usage("poison", 3, Long.MAX_VALUE / 2));
        assertTrue(service.quarantined("poison"));
        // Its reservation went back: the drained escrow closed, nothing owed on it, all of its 0.10 refunded.
        EscrowState closed = service.ledger().read(first);
        assertFalse(closed.open(), "closed now, not at the next start");
        assertEquals(0, closed.releasedMicros());
        assertEquals(100_000, closed.refundedMicros());
        journal(usage("next", 3, 10));
        assertEquals(COST, service.settlement("next").orElseThrow().costMicros());
        assertEquals(5_000_000 - 100_000, service.ledger().balance(PAYER), "the next escrow's 0.10 is held");
        assertTrue(service.conservation().holds());
    }

    @Test
    void aBatchedReleaseFindsItsRowsWithoutScanningTheSettlementTable() throws Exception {
        open(Files.createTempDirectory("budget-"), budget("5", "1.00", 3));
        // The statement a batched release runs on the settlement rows (Settler, PostPayPolicy).
        String plan = service.database().transaction(c -> {
            StringBuilder out = new StringBuilder();
            try (PreparedStatement ps = c.prepareStatement("EXPLAIN QUERY PLAN UPDATE settlement SET state = "
                    + "'released', released = cost WHERE escrow_id = ? AND state = 'batched' AND cum_target <= ?")) {
                ps.setString(1, "bud-1");
                ps.setLong(2, 1_000);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        out.append(rs.getString("detail")).append('\n');
                    }
                }
            }
            return out.toString();
        });
        assertTrue(plan.contains("USING INDEX settlement_batched"), plan);
    }

    @Test
    void aNextEscrowIsReadBackAsItWasWritten() {
        for (String replaces : new String[] {"bud-1", null}) {
            StreamBudgetPolicy.Open o = new StreamBudgetPolicy.Open("bud-2", PAYER, WORKER, 500_000,
                    1_700_003_600_000L, replaces);
            ByteBuffer b = ByteBuffer.allocate(512);
            JournalEntries.writeIntent(o, b);
            b.flip();
            assertEquals(o, JournalEntries.read(b));
            assertEquals(0, b.remaining(), "read to the end");
        }
    }
}
