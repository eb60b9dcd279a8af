package dev.tollgate.escrow.settle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.escrow.TestClock;
import dev.tollgate.escrow.ledger.Statement;
import dev.tollgate.escrow.pricing.Fees;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.pricing.Price;
import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.Route;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The settlement policies end to end on the embedded ledger, with a hand-moved clock. */
class SettlementServiceTest {
    static final String PAYER = "ag_payer";
    static final String WORKER = "ag_worker";
    static final Price PRICE = Price.of("1000", "3000", null, null); // 0.001 / 0.003 USDC per token
    final TestClock clock = new TestClock();
    SettlementService service;

    static AccountPolicy perRequest(String fund, AccountPolicy.Quality q) {
        return new AccountPolicy(PolicyKind.PER_REQUEST, null, Micros.parse(fund), true, 100, 0, 0, 0, 0, false,
                100_000, 5, q);
    }

    static AccountPolicy budget(String fund, String budget, int batchCalls, boolean next) {
        return new AccountPolicy(PolicyKind.STREAM_BUDGET, null, Micros.parse(fund), true, 100,
                Micros.parse(budget), batchCalls, 0, 0, next, 0, 0, AccountPolicy.Quality.OFF);
    }

    SettlementService open(AccountPolicy policy) throws Exception {
        Path dir = Files.createTempDirectory("settle-");
        SettlementConfig cfg = new SettlementConfig(dir, "embedded", null, null, Fees.PURPLE_FLEA, 100_000,
                3_600_000L, true, true, Map.of("*", PRICE), Map.of(PAYER, policy));
        service = SettlementService.open(cfg, clock, null, up -> WORKER);
        return service;
    }

    @AfterEach
    void close() {
        if (service != null) {
            service.close();
        }
    }

    static UsageRecord usage(String id, long prompt, long completion, Outcome outcome, long generationNanos) {
        return new UsageRecord(id, PAYER, "sim", "m", Route.CHAT_COMPLETIONS, true, prompt, completion,
                UsageSource.UPSTREAM, 100, 0, 1_000_000, 0, generationNanos, 0, outcome, 200);
    }

    void journal(UsageRecord... records) {
        service.usageListener().onUsage(List.of(records));
        service.settleNow();
    }

    @Test
    void perRequestLocksReleasesTheCostAndRefundsTheRest() throws Exception {
        open(perRequest("5", AccountPolicy.Quality.OFF));
        Admission a = service.admit("r1", PAYER, WORKER, "m", 10, 100).get();
        assertTrue(a.admitted());
        // Admission reserved in memory; the lock is written in the journal's next commit.
        assertEquals(Micros.parse("5"), service.ledger().balance(PAYER));
        assertEquals(Micros.parse("5") - 310_000, service.ledger().funds().available(PAYER));
        service.settleNow();
        SettlementView locked = service.settlement("r1").orElseThrow();
        long lock = Math.max(100_000, 10 * 1000 + 100 * 3000);
        assertEquals(lock, locked.reservedMicros());
        assertEquals(Micros.parse("5") - lock, service.ledger().balance(PAYER));
        // 10 prompt + 20 completion tokens at 1000 + 3000 micro each; slow generation: no throughput bonus.
        journal(usage("r1", 10, 20, Outcome.COMPLETED, 10_000_000_000L));
        SettlementView s = service.settlement("r1").orElseThrow();
        assertEquals("settled", s.state());
        assertEquals(70_000, s.costMicros());
        assertEquals(70_000, s.releasedMicros());
        assertEquals(lock - 70_000, s.refundedMicros());
        assertEquals(0, s.bonusMicros());
        Statement worker = service.statement(WORKER);
        assertEquals(70_000 - 700, worker.earnedMicros()); // 1% fee
        assertEquals(Micros.parse("5") - 70_000, service.ledger().balance(PAYER));
        assertTrue(service.conservation().holds());
    }

    @Test
    void paymentRequiredWhenTheBalanceCannotCoverTheLock() throws Exception {
        open(perRequest("0.05", AccountPolicy.Quality.OFF));
        Admission a = service.admit("r1", PAYER, WORKER, "m", 10, 100).get();
        assertFalse(a.admitted());
        assertTrue(a.message().contains("Insufficient balance"), a.message());
        assertTrue(service.settlement("r1").isEmpty(), "a refused request leaves no hold");
        journal(usage("r1", 0, 0, Outcome.PAYMENT_REQUIRED, -1));
        assertEquals(Micros.parse("0.05"), service.ledger().balance(PAYER));
    }

    @Test
    void upstreamErrorRefundsEverythingAndDisconnectPaysWhatWasServed() throws Exception {
        open(perRequest("5", AccountPolicy.Quality.OFF));
        service.admit("err", PAYER, WORKER, "m", 10, 100).get();
        service.admit("cut", PAYER, WORKER, "m", 10, 100).get();
        journal(usage("err", 0, 0, Outcome.UPSTREAM_ERROR, -1), usage("cut", 10, 5, Outcome.CLIENT_DISCONNECTED, -1));
        SettlementView err = service.settlement("err").orElseThrow();
        assertEquals("refunded", err.state());
        assertEquals(0, err.releasedMicros());
        SettlementView cut = service.settlement("cut").orElseThrow();
        assertEquals(10 * 1000 + 5 * 3000, cut.releasedMicros());
        assertEquals(Micros.parse("5") - 25_000, service.ledger().balance(PAYER));
        assertTrue(service.conservation().holds());
    }

    @Test
    void throughputBonusComesFromThePayersBalance() throws Exception {
        open(perRequest("5", AccountPolicy.Quality.OFF));
        service.admit("fast", PAYER, WORKER, "m", 10, 100).get();
        // 20 tokens in 0.1 s = 200 tokens/s >= 100.
        journal(usage("fast", 10, 20, Outcome.COMPLETED, 100_000_000L));
        SettlementView s = service.settlement("fast").orElseThrow();
        assertEquals(70_000 * 5 / 100, s.bonusMicros());
        assertEquals(Micros.parse("5") - 70_000 - 3_500, service.ledger().balance(PAYER));
        assertTrue(service.conservation().holds());
    }

    @Test
    void qualityTiersDecideWhatAHeldCostPays() throws Exception {
        AccountPolicy.Quality gate = new AccountPolicy.Quality(true, 60_000, 7_000, 9_000, 10, 9_000, 7_000, 70);
        open(perRequest("5", gate));
        for (String id : new String[] {"great", "ok", "bad", "silent"}) {
            service.admit(id, PAYER, WORKER, "m", 10, 100).get();
        }
        journal(usage("great", 10, 20, Outcome.COMPLETED, -1), usage("ok", 10, 20, Outcome.COMPLETED, -1),
                usage("bad", 10, 20, Outcome.COMPLETED, -1), usage("silent", 10, 20, Outcome.COMPLETED, -1));
        assertEquals("awaiting_score", service.settlement("great").orElseThrow().state());
        assertTrue(service.score("great", "0.95"));
        assertTrue(service.score("ok", "0.8"));
        assertTrue(service.score("bad", "0.5"));
        assertFalse(service.score("nobody", "0.5"));
        clock.advance(61_000);
        service.settleNow();
        // Deadline passed for "silent": the default score (0.7) pays 70%.
        awaitSettled("silent");
        service.settleNow();
        assertEquals(70_000, service.settlement("great").orElseThrow().releasedMicros());
        assertEquals(7_000, service.settlement("great").orElseThrow().bonusMicros());
        assertEquals(49_000, service.settlement("ok").orElseThrow().releasedMicros());
        assertEquals(0, service.settlement("bad").orElseThrow().releasedMicros());
        assertEquals("refunded", service.settlement("bad").orElseThrow().state());
        assertEquals(49_000, service.settlement("silent").orElseThrow().releasedMicros());
        // A score arriving after the deadline decided "silent" changes nothing: no bonus, same release.
        assertTrue(service.score("silent", "0.99"));
        service.settleNow();
        assertEquals(0, service.settlement("silent").orElseThrow().bonusMicros());
        assertEquals(49_000, service.settlement("silent").orElseThrow().releasedMicros());
        assertTrue(service.conservation().holds());
    }

    private void awaitSettled(String id) {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (service.settlement(id).orElseThrow().state().equals("awaiting_score")) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("deadline sweep did not run");
            }
            java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
        }
    }

    @Test
    void streamBudgetBatchesReleasesAndPaysExactlyTheTotal() throws Exception {
        open(budget("5", "1.00", 3, true));
        for (int i = 0; i < 7; i++) {
            assertTrue(service.admit("b" + i, PAYER, WORKER, "m", 3, 7).get().admitted());
            journal(usage("b" + i, 3, i, Outcome.COMPLETED, -1));
        }
        // 7 x 3 = 21 prompt tokens at 1,000 micro + (0 + 1 + ... + 6) = 21 completion tokens at 3,000 micro.
        long expectedMicros = 21 * 1_000 + 21 * 3_000;
        String escrow = service.settlement("b0").orElseThrow().escrowId();
        // Two batches of three released; the seventh request waits for the next batch.
        assertEquals("released", service.settlement("b5").orElseThrow().state());
        assertEquals("batched", service.settlement("b6").orElseThrow().state());
        assertEquals(1, service.closeBudgets(PAYER));
        service.settleNow();
        var state = service.ledger().read(escrow);
        assertEquals(expectedMicros, state.releasedMicros(), "cost of the total");
        assertEquals(state.lockedMicros() - state.releasedMicros(), state.refundedMicros());
        assertTrue(service.conservation().holds());
    }

    @Test
    void exhaustedBudgetOpensTheNextEscrowOrRefuses() throws Exception {
        open(budget("5", "0.10", 100, true));
        // Each request reserves (3 + 40) tokens' worst case: 123,000 micro > 0.10 budget -> its own escrow.
        Admission a1 = service.admit("x1", PAYER, WORKER, "m", 3, 20).get();
        Admission a2 = service.admit("x2", PAYER, WORKER, "m", 3, 20).get();
        assertTrue(a1.admitted() && a2.admitted());
        String e1 = a1.escrowId();
        String e2 = a2.escrowId();
        assertFalse(e1.equals(e2), "the second request needed a new escrow");
        journal(usage("x1", 3, 20, Outcome.COMPLETED, -1), usage("x2", 3, 20, Outcome.COMPLETED, -1));
        assertFalse(service.ledger().read(e1).open(), "the drained escrow closes once its request settled");
        service.close();
        service = null;
        open(budget("5", "0.10", 100, false));
        assertTrue(service.admit("y1", PAYER, WORKER, "m", 3, 20).get().admitted());
        assertFalse(service.admit("y2", PAYER, WORKER, "m", 3, 20).get().admitted());
    }

    @Test
    void aRecordJournaledTwiceSettlesOnce() throws Exception {
        open(perRequest("5", AccountPolicy.Quality.OFF));
        service.admit("d", PAYER, WORKER, "m", 10, 100).get();
        UsageRecord r = usage("d", 10, 20, Outcome.COMPLETED, -1);
        journal(r);
        journal(r, r);
        assertEquals(70_000, service.statement(PAYER).spentMicros());
        assertTrue(service.conservation().holds());
    }

    @Test
    void aPaidPolicyWithoutAnyPriceIsAConfigurationErrorNamingTheAccount() throws Exception {
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> new SettlementConfig(Files.createTempDirectory("settle-"), "embedded", null, null,
                        Fees.PURPLE_FLEA, 100_000, 3_600_000L, true, true, Map.of(),
                        Map.of(PAYER, perRequest("5", AccountPolicy.Quality.OFF))));
        assertTrue(e.getMessage().contains("settlement.accounts." + PAYER), e.getMessage());
        assertTrue(e.getMessage().contains("settlement.prices"), e.getMessage());
    }

    @Test
    void aModelWithoutAPriceIsRefusedAsInvalidBeforeAnythingIsLocked() throws Exception {
        SettlementConfig cfg = new SettlementConfig(Files.createTempDirectory("settle-"), "embedded", null, null,
                Fees.PURPLE_FLEA, 100_000, 3_600_000L, true, true, Map.of("priced-model", PRICE),
                Map.of(PAYER, perRequest("5", AccountPolicy.Quality.OFF)));
        service = SettlementService.open(cfg, clock, null, up -> WORKER);
        Admission a = service.admit("r1", PAYER, WORKER, "unpriced-model", 10, 100).get();
        assertFalse(a.admitted());
        assertEquals(400, a.status());
        assertEquals("model", a.param());
        assertEquals(Micros.parse("5"), service.ledger().funds().available(PAYER));
        assertTrue(service.admit("r2", PAYER, WORKER, "priced-model", 10, 100).get().admitted());
    }

    @Test
    void costBeyondTheHoldIsPaidFromTheBalanceNotDropped() throws Exception {
        open(perRequest("5", AccountPolicy.Quality.OFF));
        // The lock covers 10 prompt + 100 completion tokens (310,000 micro); the upstream served 1,000 completion
        // tokens (n ignored upstream, say): 10 x 1,000 + 1,000 x 3,000 = 3,010,000 micro owed to the worker.
        assertTrue(service.admit("big", PAYER, WORKER, "m", 10, 100).get().admitted());
        journal(usage("big", 10, 1_000, Outcome.COMPLETED, 100_000_000_000L));
        SettlementView s = service.settlement("big").orElseThrow();
        assertEquals(3_010_000, s.costMicros());
        assertEquals(310_000, s.releasedMicros());
        // 310,000 from the hold + 2,700,000 straight from the balance; the worker nets 99% of 3,010,000.
        assertEquals(5_000_000 - 3_010_000, service.ledger().balance(PAYER));
        assertEquals(3_010_000 - 30_100, service.ledger().balance(WORKER));
        assertTrue(service.conservation().holds());
    }

    @Test
    void aPayerWhoCannotPayTheExcessIsInArrearsUntilItPays() throws Exception {
        open(perRequest("0.5", AccountPolicy.Quality.OFF));
        assertTrue(service.admit("big", PAYER, WORKER, "m", 10, 100).get().admitted());
        // 1,000 completion tokens: 3,010,000 owed, the payer has 500,000.
        journal(usage("big", 10, 1_000, Outcome.COMPLETED, 100_000_000_000L));
        Admission next = service.admit("next", PAYER, WORKER, "m", 10, 100).get();
        assertFalse(next.admitted());
        assertEquals(402, next.status());
        assertTrue(next.message().contains("owes 2.700000 USDC"), next.message());
        // Topped up: the retried payment goes through on the settler's timer and the payer is served again.
        service.ledger().credit("topup", PAYER, 5_000_000);
        clock.advance(120_000);
        service.settleNow();
        assertTrue(service.admit("after", PAYER, WORKER, "m", 10, 100).get().admitted());
        assertEquals(3_010_000 - 30_100, service.ledger().balance(WORKER));
    }

    @Test
    void theLockCoversEveryChoice() throws Exception {
        open(perRequest("5", AccountPolicy.Quality.OFF));
        // n = 4 choices of up to 100 tokens: 10 x 1,000 + 400 x 3,000 = 1,210,000 micro locked.
        assertTrue(service.admit("n4", PAYER, WORKER, "m", 10, 100, 4).get().admitted());
        service.settleNow();
        assertEquals(1_210_000, service.settlement("n4").orElseThrow().reservedMicros());
        // A worst case that overflows the price arithmetic is refused as invalid, not wrapped around.
        Admission huge = service.admit("huge", PAYER, WORKER, "m", 10, Long.MAX_VALUE / 2, 1000).get();
        assertEquals(400, huge.status());
        assertEquals("max_tokens", huge.param());
    }

    @Test
    void aRecordThatCannotBeJournaledIsQuarantinedAndTheOthersCommit() throws Exception {
        open(perRequest("5", AccountPolicy.Quality.OFF));
        assertTrue(service.admit("good", PAYER, WORKER, "m", 10, 100).get().admitted());
        assertTrue(service.admit("poison", PAYER, WORKER, "m", 10, 100).get().admitted());
        // A count whose cost overflows the price arithmetic makes settling that record throw.
        journal(usage("good", 10, 20, Outcome.COMPLETED, -1),
                usage("poison", 10, Long.MAX_VALUE / 2, Outcome.COMPLETED, -1));
        assertEquals("settled", service.settlement("good").orElseThrow().state());
        assertEquals(70_000, service.settlement("good").orElseThrow().releasedMicros());
        assertTrue(service.usage("good") != null, "the honest record is journaled");
        assertTrue(service.usage("poison") == null, "the failing record is not in the journal");
        StringBuilder metrics = new StringBuilder();
        service.writePrometheus(metrics);
        assertTrue(metrics.toString().contains("tollgate_journal_quarantined_records_total 1"), metrics.toString());
    }

    @Test
    void aBudgetRollsOverBeforeItsEscrowExpires() throws Exception {
        // Escrows live one hour here; a budget stops taking requests 6 minutes (a tenth) before that.
        open(budget("5", "1.00", 100, false));
        Admission first = service.admit("a1", PAYER, WORKER, "m", 3, 20).get();
        assertTrue(first.admitted());
        clock.advance(50 * 60_000L);
        Admission same = service.admit("a2", PAYER, WORKER, "m", 3, 20).get();
        assertEquals(first.escrowId(), same.escrowId());
        clock.advance(5 * 60_000L);
        // 55 minutes in: even with when_exhausted: deny, the next escrow opens instead of using the expiring one.
        Admission next = service.admit("a3", PAYER, WORKER, "m", 3, 20).get();
        assertTrue(next.admitted());
        assertFalse(first.escrowId().equals(next.escrowId()));
    }

    @Test
    void aClientThatLeavesBeforeItsAdmissionFinishesLeavesNoReservationBehind() throws Exception {
        // A budget of 0.10 holds one request's worst case (3 x 1,000 + 20 x 3,000 = 63,000 micro), not two.
        open(budget("5", "0.10", 100, false));
        // The client left while its admission (opening the budget's escrow) was still running: its record, with no
        // upstream call, reaches the journal first.
        journal(new UsageRecord("gone", PAYER, "", "m", Route.CHAT_COMPLETIONS, true, 0, 0, UsageSource.NONE, 20, 0,
                -1, 1_000_000, -1, -1, Outcome.CLIENT_DISCONNECTED, 0));
        Admission late = service.admit("gone", PAYER, WORKER, "m", 3, 20).get();
        assertFalse(late.admitted(), "the reservation made for a request that already ended is returned");
        // The budget is whole: the next request fits in it (with when_exhausted: deny a leak would be a 402).
        Admission next = service.admit("next", PAYER, WORKER, "m", 3, 20).get();
        assertTrue(next.admitted(), next.message());
    }
}
