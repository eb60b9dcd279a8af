package dev.tollgate.escrow.purpleflea;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.escrow.TestClock;
import dev.tollgate.escrow.port.EscrowResult;
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
import java.net.URI;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Settlement through the Purple Flea backend against a loopback fake with the real service's semantics:
 * post-pay batches of at least the minimum, each created and released whole; a lost release answer is
 * resolved by reading (no double payout); a lost create answer is never repeated; 402 maps to the client.
 */
class PurpleFleaSettlementTest {
    static final String PAYER = "ag_payer";
    static final String WORKER = "ag_worker";
    final TestClock clock = new TestClock();
    FakePurpleFlea fake;
    SettlementService service;

    @BeforeEach
    void start() throws Exception {
        fake = new FakePurpleFlea();
        AccountPolicy p = new AccountPolicy(PolicyKind.PER_REQUEST, null, 0, true, 100, 0, 0, 0, 0, false, 0, 0,
                AccountPolicy.Quality.OFF);
        SettlementConfig cfg = new SettlementConfig(Files.createTempDirectory("pf-"), "purpleflea", fake.baseUrl(),
                "key-" + PAYER, Fees.PURPLE_FLEA, 100_000, 3_600_000L, true, false,
                Map.of("*", Price.of("1000", "3000", null, null)), Map.of(PAYER, p));
        service = SettlementService.open(cfg, clock, db -> new PurpleFleaEscrow(URI.create(fake.baseUrl()),
                "key-" + PAYER, db, 100_000, Duration.ofSeconds(5)), up -> WORKER);
    }

    @AfterEach
    void stop() {
        service.close();
        fake.close();
    }

    /** A request costing 30 prompt x 0.001 = 0.03 USDC. */
    static UsageRecord usage(String id) {
        return new UsageRecord(id, PAYER, "sim", "m", Route.CHAT_COMPLETIONS, false, 30, 0, UsageSource.UPSTREAM, 0,
                0, -1, 1_000, -1, 0, Outcome.COMPLETED, 200);
    }

    void journal(String... ids) {
        for (String id : ids) {
            service.usageListener().onUsage(List.of(usage(id)));
        }
        service.settleNow();
    }

    @Test
    void postPaysInBatchesOfAtLeastTheMinimum() throws Exception {
        fake.fund(PAYER, Micros.parse("5"));
        assertTrue(service.admit("r1", PAYER, WORKER, "m", 30, 0).get().admitted(), "post-pay locks nothing");
        journal("r1", "r2", "r3");
        assertEquals(0, fake.creates.get(), "0.09 owed is below the 0.10 minimum");
        journal("r4", "r5");
        assertEquals(1, fake.creates.get());
        assertEquals(120_000 - 1_200, fake.balance(WORKER), "one escrow of 0.12 released whole, minus the 1% fee");
        assertEquals("released", service.settlement("r4").orElseThrow().state());
        assertEquals("batched", service.settlement("r5").orElseThrow().state(), "0.03 waits for the next batch");
    }

    @Test
    void lostReleaseAnswerIsResolvedByReadingNotByPayingTwice() throws Exception {
        fake.fund(PAYER, Micros.parse("5"));
        fake.failNextReleaseAnswer = true;
        journal("a", "b", "c", "d");
        assertEquals(1, fake.releases.get());
        assertEquals(118_800, fake.balance(WORKER));
        assertEquals(0, service.unfinishedOperations());
        assertEquals("released", service.settlement("a").orElseThrow().state());
    }

    @Test
    void lostCreateAnswerIsNeverRepeatedBlindly() throws Exception {
        fake.fund(PAYER, Micros.parse("5"));
        fake.dropNextCreateAnswer = true;
        journal("a", "b", "c", "d");
        clock.advance(3_600_000);
        service.settleNow();
        assertEquals(1, fake.creates.get(), "a retried create would debit the payer again");
        assertEquals(1, service.unfinishedOperations(), "left for an operator, found by the op id in the description");
    }

    @Test
    void insufficientBalanceBecomesTheClients402() throws Exception {
        fake.fund(PAYER, Micros.parse("0.05"));
        journal("a", "b", "c", "d");
        assertEquals(0, fake.creates.get());
        assertFalse(service.admit("next", PAYER, WORKER, "m", 30, 0).get().admitted());
        fake.fund(PAYER, Micros.parse("5"));
        clock.advance(61_000);
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!service.admit("later", PAYER, WORKER, "m", 30, 0).get().admitted()) {
            service.settleNow();
            assertTrue(System.nanoTime() < deadline, "arrears cleared after a successful retry");
        }
        assertEquals(118_800, fake.balance(WORKER));
    }

    @Test
    void offersNoLocksPartialReleasesOrRefunds() throws Exception {
        try (dev.tollgate.escrow.db.Database db = dev.tollgate.escrow.db.Database.open(Files.createTempDirectory("pf2-"))) {
            PurpleFleaEscrow pf = new PurpleFleaEscrow(URI.create(fake.baseUrl()), "key-" + PAYER, db, 100_000,
                    Duration.ofSeconds(5));
            assertFalse(pf.capabilities().partialRelease() || pf.capabilities().refund()
                    || pf.capabilities().idempotencyKeys());
            assertTrue(pf.lock("x", null) instanceof EscrowResult.Rejected);
            assertTrue(pf.pay("small", PAYER, WORKER, 50_000) instanceof EscrowResult.Rejected, "below the minimum");
            assertEquals(0, fake.creates.get());
        }
    }
}
