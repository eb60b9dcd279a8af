package dev.tollgate.escrow.settle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A ledger intent the journal cannot write even alone (here a database trigger refuses its row, standing in for
 * any database error) is written as refused: the request admitted against it is still paid, from the payer's
 * balance, and the amount its admission reserved is given back. Amounts are hand-computed from the price, 1,000
 * micro-USDC per prompt token and 3,000 per completion token: 3 prompt and 10 completion tokens cost 33,000; the
 * worker receives it less the 1% fee (330).
 */
class RefusedIntentsTest {
    static final String PAYER = "ag_payer";
    static final String WORKER = "ag_worker";
    static final long FUND = 5_000_000;
    static final long COST = 3 * 1_000 + 10 * 3_000;
    final TestClock clock = new TestClock();
    SettlementService service;

    void open(AccountPolicy policy) throws Exception {
        SettlementConfig cfg = new SettlementConfig(Files.createTempDirectory("refused-"), "embedded", null, null,
                Fees.PURPLE_FLEA, 100_000, 3_600_000L, true, true, Map.of("*", Price.of("1000", "3000", null, null)),
                Map.of(PAYER, policy));
        service = SettlementService.open(cfg, clock, null, up -> WORKER);
        service.settleNow(); // The configured funding is committed.
    }

    @AfterEach
    void close() {
        if (service != null) {
            service.close();
        }
    }

    /** Makes the database refuse the rows {@code when} selects, on {@code table}, from now on. */
    void refuse(String table, String when) {
        service.database().transaction(c -> {
            try (var s = c.createStatement()) {
                s.execute("CREATE TEMP TRIGGER refused_" + table + " BEFORE INSERT ON main." + table + " WHEN "
                        + when + " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");
            }
            return null;
        });
    }

    String admit(String requestId) throws Exception {
        Admission a = service.admit(requestId, PAYER, WORKER, "m", 3, 20).get();
        assertTrue(a.admitted(), a.message());
        return a.escrowId();
    }

    void served(String requestId) {
        service.usageListener().onUsage(List.of(new UsageRecord(requestId, PAYER, "sim", "m",
                Route.CHAT_COMPLETIONS, true, 3, 10, UsageSource.UPSTREAM, 20, 0, 1_000_000, 0, -1, 0,
                Outcome.COMPLETED, 200)));
        service.settleNow();
    }

    void assertPaidFromTheBalance() {
        assertEquals(FUND - COST, service.ledger().balance(PAYER));
        assertEquals(COST - 330, service.ledger().balance(WORKER), "less the 1% fee");
        assertEquals(FUND - COST, service.ledger().funds().available(PAYER),
                "nothing left reserved for the refused intent");
        assertEquals(0, service.unfinishedOperations());
        assertEquals(0, service.database().transaction(Recovery::quarantineCount), "no record quarantined");
        assertTrue(service.conservation().holds());
    }

    @Test
    void aPerRequestLockThatCannotBeWrittenLeavesTheRequestUnlockedAndPaidFromTheBalance() throws Exception {
        open(new AccountPolicy(PolicyKind.PER_REQUEST, null, FUND, true, 100, 0, 0, 0, 0, false, 0, 0,
                AccountPolicy.Quality.OFF));
        refuse("escrow", "NEW.id = 'req-refused'");
        String escrow = admit("refused");
        served("refused");
        assertNull(service.ledger().read(escrow), "the request's hold was never written");
        SettlementView v = service.settlement("refused").orElseThrow();
        assertEquals("settled", v.state());
        assertEquals(COST, v.costMicros());
        assertEquals(0, v.reservedMicros(), "nothing was held for it");
        assertPaidFromTheBalance();
    }

    @Test
    void aPerRequestLockWhoseRefusalCannotBeWrittenEitherQuarantinesItsRecord() throws Exception {
        open(new AccountPolicy(PolicyKind.PER_REQUEST, null, FUND, true, 100, 0, 0, 0, 0, false, 0, 0,
                AccountPolicy.Quality.OFF));
        refuse("escrow", "NEW.id = 'req-lost'");
        refuse("settlement", "NEW.request_id = 'lost'");
        admit("lost");
        served("lost");
        assertEquals(1, service.database().transaction(Recovery::quarantineCount),
                "kept for an operator, not settled against nothing");
        assertTrue(service.quarantined("lost"));
        assertEquals(FUND, service.ledger().balance(PAYER));
        assertEquals(FUND, service.ledger().funds().available(PAYER), "the lock's reservation was given back");
        assertTrue(service.conservation().holds());
    }

    @Test
    void aStreamBudgetThatCannotBeOpenedHoldsNothingAndItsRequestIsPaidFromTheBalance() throws Exception {
        open(new AccountPolicy(PolicyKind.STREAM_BUDGET, null, FUND, true, 100, Micros.parse("1.00"), 5, 0, 0,
                true, 0, 0, AccountPolicy.Quality.OFF));
        refuse("escrow", "NEW.id LIKE 'bud-%'");
        String escrow = admit("unbudgeted");
        served("unbudgeted");
        assertNull(service.ledger().read(escrow), "the budget's escrow was never locked");
        assertEquals(COST, service.settlement("unbudgeted").orElseThrow().costMicros());
        assertPaidFromTheBalance();
    }

    @Test
    void aBudgetWhoseRefusalCannotBeWrittenEitherQuarantinesItsRecordInsteadOfSettlingNothing() throws Exception {
        open(new AccountPolicy(PolicyKind.STREAM_BUDGET, null, FUND, true, 100, Micros.parse("1.00"), 5, 0, 0,
                true, 0, 0, AccountPolicy.Quality.OFF));
        refuse("budget", "1"); // Every budget row: the open intent and its refusal both fail.
        admit("orphan");
        served("orphan");
        assertEquals(1, service.database().transaction(Recovery::quarantineCount), "kept for an operator");
        assertTrue(service.quarantined("orphan"));
        assertEquals(FUND, service.ledger().balance(PAYER), "nothing was taken");
        assertEquals(FUND, service.ledger().funds().available(PAYER), "the budget's reservation was given back");
        assertTrue(service.conservation().holds());
    }

    @Test
    void aPerCallChargeThatCannotBeWrittenIsOwedThenPaid() throws Exception {
        open(new AccountPolicy(PolicyKind.PER_CALL, null, FUND, true, 100, 0, 0, 0, 0, false, 0, 0,
                AccountPolicy.Quality.OFF, true, new BillingPattern(COST, 0, 0, 0, 0, 0, Map.of())));
        refuse("settlement", "NEW.request_id = 'call' AND NEW.state = 'paid'");
        admit("call");
        served("call");
        SettlementView v = service.settlement("call").orElseThrow();
        assertEquals(COST, v.costMicros());
        assertEquals(COST, v.releasedMicros(), "the owed price was paid");
        assertPaidFromTheBalance();
    }
}
