package dev.tollgate.escrow.settle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.escrow.TestClock;
import dev.tollgate.escrow.agent.AgentEscrow;
import dev.tollgate.escrow.agent.AgentEscrowException;
import dev.tollgate.escrow.agent.AgentEscrows;
import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.ledger.EmbeddedLedger;
import dev.tollgate.escrow.ledger.LedgerBook;
import dev.tollgate.escrow.port.EscrowResult;
import dev.tollgate.escrow.pricing.Fees;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.Route;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The per_call, subscription, hybrid and milestone policies on the embedded ledger with a hand-moved clock:
 * admission, quotas, overage, period roll-over on time and across a restart, milestone tranches. Money is
 * computed by hand: fee 1% of what the worker receives, no referrer.
 */
class BillingPatternsTest {
    static final String PAYER = "ag_payer";
    static final String WORKER = "ag_worker";
    static final long HOUR = 3_600_000L;
    final TestClock clock = new TestClock();
    Path dir;
    SettlementService service;
    int requests;

    static AccountPolicy policy(PolicyKind kind, String fund, BillingPattern pattern) {
        return new AccountPolicy(kind, null, Micros.parse(fund), true, 100, 0, 0, 0, 0, false, 0, 0,
                AccountPolicy.Quality.OFF, true, pattern);
    }

    SettlementService open(AccountPolicy policy) throws Exception {
        if (dir == null) {
            dir = Files.createTempDirectory("patterns-");
        }
        SettlementConfig cfg = new SettlementConfig(dir, "embedded", null, null, Fees.PURPLE_FLEA, 100_000,
                24 * HOUR, true, false, Map.of(), Map.of(PAYER, policy));
        service = SettlementService.open(cfg, clock, null, up -> WORKER);
        return service;
    }

    @AfterEach
    void close() {
        if (service != null) {
            service.close();
        }
    }

    Admission admit(String id) throws ExecutionException, InterruptedException {
        return service.admit(id, PAYER, WORKER, "m", 10, 10).get();
    }

    void served(String id, Outcome outcome) {
        service.usageListener().onUsage(List.of(new UsageRecord(id, PAYER, "sim", "m", Route.CHAT_COMPLETIONS,
                false, 10, 10, UsageSource.UPSTREAM, 100, clock.millis(), 1_000_000, 0, 1_000_000, 0, outcome,
                outcome == Outcome.COMPLETED ? 200 : 503)));
    }

    /** Admits and serves one request; returns its admission. */
    Admission request(Outcome outcome) throws Exception {
        String id = "r" + (++requests);
        Admission a = admit(id);
        if (a.admitted()) {
            served(id, outcome);
        }
        return a;
    }

    /** Escrows settled at their time since {@code before} (by this sweep or by the timer's, whichever ran first). */
    long sweptSince(long before) throws Exception {
        service.agentEscrows().sweepNow().get();
        return service.agentEscrows().expiredCount() - before;
    }

    long balance(String agent) {
        return service.statement(agent).balanceMicros();
    }

    @Test
    void perCallPaysAFlatPriceBeforeForwardingAndRefusesWhatTheBalanceCannotCover() throws Exception {
        open(policy(PolicyKind.PER_CALL, "1.00", new BillingPattern(300_000, 0, 0, 0, 0, 0, Map.of())));
        assertTrue(admit("a").admitted());
        assertTrue(admit("b").admitted());
        assertTrue(admit("c").admitted());
        Admission refused = admit("d");
        assertFalse(refused.admitted());
        assertEquals(402, refused.status());
        service.settleNow();
        assertEquals(100_000, balance(PAYER));
        assertEquals(891_000, balance(WORKER), "0.90 less the 1% fee");
        assertEquals(900_000, service.statement(PAYER).spentMicros(), "the calls, fee included");
        assertEquals(9_000, service.statement(PAYER).feesMicros());
        assertEquals(0, service.statement(PAYER).bonusPaidMicros(), "a call's price is not a bonus");
        assertEquals(891_000, service.statement(WORKER).earnedMicros());
        SettlementView v = service.settlement("a").orElseThrow();
        assertEquals("per_call", v.policy());
        assertEquals("paid", v.state());
        assertEquals(300_000, v.costMicros());
        served("a", Outcome.COMPLETED);
        assertEquals(100_000, balance(PAYER), "the usage record charges nothing more");
        assertTrue(service.conservation().holds());
    }

    @Test
    void aPerCallPriceTheBalanceNoLongerCoversIsOwedRetriedAndKeepsThePayerInArrears() throws Exception {
        open(policy(PolicyKind.PER_CALL, "1.00", new BillingPattern(300_000, 0, 0, 0, 0, 0, Map.of())));
        service.settleNow();
        assertTrue(admit("a").admitted());
        // Another writer of the same ledger (a CLI in another process sharing the data directory) takes 0.80
        // after admission: the payer has 0.20 left when the call's 0.30 is written.
        EmbeddedLedger other = new EmbeddedLedger(service.database(), new LedgerBook(Fees.PURPLE_FLEA), clock,
                100_000, true);
        assertTrue(other.pay("elsewhere", PAYER, "ag_other", 800_000) instanceof EscrowResult.Done);
        service.settleNow();
        assertEquals(200_000, balance(PAYER));
        SettlementView owed = service.settlement("a").orElseThrow();
        assertEquals("owed", owed.state());
        assertEquals(300_000, owed.costMicros());
        assertEquals(0, owed.releasedMicros());
        Admission next = admit("b");
        assertEquals(402, next.status());
        assertTrue(next.message().contains("owes 0.300000 USDC"), next.message());

        // Topped up: the owed price is paid on the settler's timer and the payer is served again.
        service.ledger().credit("topup", PAYER, 1_000_000);
        clock.advance(120_000);
        service.settleNow();
        assertEquals(900_000, balance(PAYER), "0.20 + 1.00 - 0.30");
        assertEquals(297_000, balance(WORKER), "0.30 less the 1% fee");
        SettlementView paid = service.settlement("a").orElseThrow();
        assertEquals("paid", paid.state());
        assertEquals(300_000, paid.releasedMicros());
        assertEquals(297_000, service.statement(WORKER).earnedMicros());
        assertEquals(1_100_000, service.statement(PAYER).spentMicros(), "0.80 elsewhere and the call, fees included");
        assertTrue(admit("c").admitted());
        service.settleNow();
        assertEquals(600_000, balance(PAYER));
        assertTrue(service.conservation().holds());
    }

    @Test
    void aPerCallPriceOwedAtAStopIsStillOwedAfterARestart() throws Exception {
        AccountPolicy p = policy(PolicyKind.PER_CALL, "1.00", new BillingPattern(300_000, 0, 0, 0, 0, 0, Map.of()));
        open(p);
        service.settleNow();
        assertTrue(admit("a").admitted());
        EmbeddedLedger other = new EmbeddedLedger(service.database(), new LedgerBook(Fees.PURPLE_FLEA), clock,
                100_000, true);
        assertTrue(other.pay("elsewhere", PAYER, "ag_other", 800_000) instanceof EscrowResult.Done);
        service.settleNow();
        service.close();
        open(p);
        Admission next = admit("b");
        assertEquals(402, next.status());
        assertTrue(next.message().contains("owes 0.300000 USDC"), next.message());
        service.ledger().credit("topup", PAYER, 1_000_000);
        clock.advance(120_000);
        service.settleNow();
        assertEquals("paid", service.settlement("a").orElseThrow().state());
        assertEquals(900_000, balance(PAYER));
        assertTrue(admit("c").admitted());
    }

    @Test
    void aSubscriptionCoversItsQuotaPerPeriodAndRollsOverOnTimeAndAcrossARestart() throws Exception {
        AccountPolicy p = policy(PolicyKind.SUBSCRIPTION, "25.00",
                new BillingPattern(0, 10_000_000, 168, 2, 0, 0, Map.of()));
        open(p);
        assertTrue(request(Outcome.COMPLETED).admitted());
        assertEquals(15_000_000, balance(PAYER), "the period's escrow is locked at its first request");
        assertTrue(request(Outcome.UPSTREAM_ERROR).admitted());
        assertTrue(request(Outcome.COMPLETED).admitted(), "a failed request does not use the quota");
        Admission over = request(Outcome.COMPLETED);
        assertEquals(402, over.status());
        assertTrue(over.message().contains("quota of 2"), over.message());

        long swept = service.agentEscrows().expiredCount();
        clock.advance(168 * HOUR);
        assertEquals(1, sweptSince(swept), "the period's escrow auto-releases at its end");
        assertEquals(9_900_000, balance(WORKER));
        assertTrue(request(Outcome.COMPLETED).admitted(), "the next period opens");
        assertEquals(5_000_000, balance(PAYER));

        service.close();
        open(p);
        assertTrue(request(Outcome.COMPLETED).admitted(), "the period resumes with its one request counted");
        assertEquals(402, request(Outcome.COMPLETED).status());
        assertEquals(5_000_000, balance(PAYER), "no new escrow after the restart");

        clock.advance(168 * HOUR);
        service.close();
        open(p);
        assertEquals(1, service.agentEscrows().sweepNow().get());
        Admission broke = request(Outcome.COMPLETED);
        assertEquals(402, broke.status(), "5.00 cannot fund a 10.00 period");
        assertTrue(broke.message().contains("Insufficient balance"), broke.message());
        assertEquals(19_800_000, balance(WORKER));
        assertTrue(service.conservation().holds());
    }

    @Test
    void hybridPaysOveragePerRequestFromAPoolWhoseRestIsRefundedAtThePeriodsEnd() throws Exception {
        open(policy(PolicyKind.HYBRID, "20.00", new BillingPattern(0, 5_000_000, 168, 2, 500_000, 1_500_000,
                Map.of())));
        for (int i = 0; i < 4; i++) {
            assertTrue(request(Outcome.COMPLETED).admitted(), "request " + i);
        }
        assertTrue(request(Outcome.UPSTREAM_ERROR).admitted(), "the pool's third unit, not used: not served");
        assertTrue(request(Outcome.COMPLETED).admitted(), "...so it is still there");
        Admission over = request(Outcome.COMPLETED);
        assertEquals(402, over.status());
        // 5.00 base + 1.50 pool locked; 3 overage units of 0.50 released.
        assertEquals(13_500_000, balance(PAYER));
        assertEquals(1_485_000, balance(WORKER), "1.50 less the fee");
        SettlementView last = service.settlement("r6").orElseThrow();
        assertEquals("overage", last.state());
        assertEquals(500_000, last.releasedMicros());

        long swept = service.agentEscrows().expiredCount();
        clock.advance(168 * HOUR);
        assertEquals(1, sweptSince(swept), "the base at the period's end");
        assertEquals(6_435_000, balance(WORKER), "6.50 less the fee");
        swept = service.agentEscrows().expiredCount();
        clock.advance(HOUR);
        assertEquals(1, sweptSince(swept), "the pool an hour later (late requests' units)");
        assertEquals(13_500_000, balance(PAYER), "the pool was used up: nothing to refund");
        assertTrue(request(Outcome.COMPLETED).admitted());
        assertEquals(7_000_000, balance(PAYER), "next period: base and pool locked again");
        swept = service.agentEscrows().expiredCount();
        clock.advance(169 * HOUR);
        assertEquals(2, sweptSince(swept));
        assertEquals(8_500_000, balance(PAYER), "the unused pool (1.50) comes back");
        assertTrue(service.conservation().holds());
    }

    /** Hybrid 5.00 for 2 requests per 168 h, overage 0.50 from a 1.50 pool; r3 (the first unit) served late. */
    void hybridWithAUnitServedAfterThePoolClosed(String fund) throws Exception {
        open(policy(PolicyKind.HYBRID, fund, new BillingPattern(0, 5_000_000, 168, 2, 500_000, 1_500_000,
                Map.of())));
        assertTrue(request(Outcome.COMPLETED).admitted());
        assertTrue(request(Outcome.COMPLETED).admitted());
        assertTrue(admit("r3").admitted(), "the pool's first unit");
        long swept = service.agentEscrows().expiredCount();
        clock.advance(168 * HOUR);
        assertEquals(1, sweptSince(swept), "the base at the period's end");
        swept = service.agentEscrows().expiredCount();
        clock.advance(HOUR);
        assertEquals(1, sweptSince(swept), "the pool, unused so far, refunded");
        assertEquals(4_950_000, balance(WORKER));
    }

    @Test
    void aHybridUnitWhoseRecordArrivesAfterThePoolClosedIsPaidFromTheBalance() throws Exception {
        hybridWithAUnitServedAfterThePoolClosed("20.00");
        assertEquals(15_000_000, balance(PAYER));
        served("r3", Outcome.COMPLETED);
        SettlementView late = service.settlement("r3").orElseThrow();
        assertEquals("overage", late.state());
        assertEquals(500_000, late.costMicros());
        assertEquals(500_000, late.releasedMicros());
        assertEquals(14_500_000, balance(PAYER));
        assertEquals(5_445_000, balance(WORKER), "5.00 + 0.50 less the 1% fee");
        assertEquals(5_445_000, service.statement(WORKER).earnedMicros(), "the late unit is earned");
        assertEquals(5_500_000, service.statement(PAYER).spentMicros(), "base and late unit, fees included");
        assertEquals(55_000, service.statement(PAYER).feesMicros());
        assertEquals(0, service.statement(PAYER).bonusPaidMicros(), "an overage unit is not a bonus");
        assertTrue(service.conservation().holds());
    }

    @Test
    void aHybridUnitTheBalanceCannotPayAfterThePoolClosedIsOwedAndKeepsThePayerInArrears() throws Exception {
        hybridWithAUnitServedAfterThePoolClosed("6.50");
        assertEquals(1_500_000, balance(PAYER), "the refunded pool");
        AgentEscrows a = service.agentEscrows();
        a.submit(c -> a.create(c, PAYER, "ag_other", 1_500_000, "another job", 24, "refund")).get();
        assertEquals(0, balance(PAYER), "an agent escrow took it");
        served("r3", Outcome.COMPLETED);
        SettlementView late = service.settlement("r3").orElseThrow();
        assertEquals("overage_owed", late.state());
        assertEquals(500_000, late.costMicros());
        assertEquals(0, late.releasedMicros());
        Admission next = admit("r4");
        assertEquals(402, next.status());
        assertTrue(next.message().contains("owes 0.500000 USDC"), next.message());

        service.close();
        open(policy(PolicyKind.HYBRID, "6.50", new BillingPattern(0, 5_000_000, 168, 2, 500_000, 1_500_000,
                Map.of())));
        Admission afterRestart = admit("r5");
        assertEquals(402, afterRestart.status(), "still owed after a restart");
        assertTrue(afterRestart.message().contains("owes 0.500000 USDC"), afterRestart.message());

        service.ledger().credit("topup", PAYER, 7_000_000);
        clock.advance(120_000);
        service.settleNow();
        assertEquals("overage", service.settlement("r3").orElseThrow().state());
        assertEquals(500_000, service.settlement("r3").orElseThrow().releasedMicros());
        assertEquals(6_500_000, balance(PAYER), "7.00 - 0.50");
        assertEquals(5_445_000, balance(WORKER), "5.00 + 0.50 less the 1% fee");
        assertTrue(admit("r6").admitted(), "paid up: the next period opens");
        assertEquals(0, balance(PAYER), "base 5.00 and pool 1.50 locked");
        assertTrue(service.conservation().holds());
    }

    @Test
    void milestoneTranchesAreReleasedByTheirNamesNotByTraffic() throws Exception {
        Map<String, Integer> tranches = new LinkedHashMap<>();
        tranches.put("spec_approved", 25);
        tranches.put("draft_delivered", 50);
        tranches.put("final_accepted", 25);
        open(policy(PolicyKind.MILESTONE, "25.00", new BillingPattern(0, 10_000_001, 720, 0, 0, 0, tranches)));
        for (int i = 0; i < 5; i++) {
            assertTrue(request(Outcome.COMPLETED).admitted());
        }
        assertEquals(14_999_999, balance(PAYER));
        assertEquals(0, balance(WORKER), "traffic releases nothing");
        AgentEscrows a = service.agentEscrows();
        String project = service.settlement("r1").orElseThrow().escrowId();
        AgentEscrow first = a.submit(c -> a.releaseMilestone(c, PAYER, project, "spec_approved")).get();
        assertEquals(2_500_000, first.releasedMicros());
        ExecutionException twice = assertThrows(ExecutionException.class,
                () -> a.submit(c -> a.releaseMilestone(c, PAYER, project, "spec_approved")).get());
        assertEquals("already_settled", ((AgentEscrowException) twice.getCause()).code());
        ExecutionException byPayee = assertThrows(ExecutionException.class,
                () -> a.submit(c -> a.releaseMilestone(c, WORKER, project, "draft_delivered")).get());
        assertEquals("not_payer", ((AgentEscrowException) byPayee.getCause()).code());
        a.submit(c -> a.releaseMilestone(c, PAYER, project, "draft_delivered")).get();
        AgentEscrow done = a.submit(c -> a.releaseMilestone(c, PAYER, project, "final_accepted")).get();
        assertEquals(10_000_001, done.releasedMicros(), "the last tranche takes the rounding remainder");
        assertEquals("released", done.status());
        assertEquals(9_900_001, balance(WORKER), "10.000001 less the 1% fee, rounded down once (0.100000)");
        assertTrue(request(Outcome.COMPLETED).admitted(), "the next project opens");
        assertEquals(4_999_998, balance(PAYER));
        assertTrue(service.conservation().holds());
    }

    /** The open flag of the billing period whose base escrow is {@code escrow}, as the database holds it. */
    static int periodOpenFlag(Database db, String escrow) {
        return db.transaction(c -> {
            try (java.sql.PreparedStatement ps = c.prepareStatement(
                    "SELECT open FROM billing_period WHERE base_escrow = ?")) {
                ps.setString(1, escrow);
                try (java.sql.ResultSet rs = ps.executeQuery()) {
                    assertTrue(rs.next(), "no period for " + escrow);
                    return rs.getInt(1);
                }
            }
        });
    }

    @Test
    void aMilestoneProjectIsClosedDurablyWithItsLastTrancheAndARestartFindsItClosed() throws Exception {
        Map<String, Integer> tranches = new LinkedHashMap<>();
        tranches.put("spec_approved", 25);
        tranches.put("draft_delivered", 50);
        tranches.put("final_accepted", 25);
        AccountPolicy p = policy(PolicyKind.MILESTONE, "25.00", new BillingPattern(0, 10_000_001, 720, 0, 0, 0,
                tranches));
        open(p);
        assertTrue(request(Outcome.COMPLETED).admitted());
        assertTrue(admit("late").admitted(), "admitted under the project, journaled after its last tranche");
        AgentEscrows a = service.agentEscrows();
        String project = service.settlement("r1").orElseThrow().escrowId();
        assertEquals(1, periodOpenFlag(service.database(), project));
        for (String t : tranches.keySet()) {
            a.submit(c -> a.releaseMilestone(c, PAYER, project, t)).get();
        }
        assertEquals(0, periodOpenFlag(service.database(), project), "closed in the last tranche's transaction");
        served("late", Outcome.COMPLETED);
        SettlementView late = service.settlement("late").orElseThrow();
        assertEquals("covered", late.state(), "still the project's request");
        assertEquals(project, late.escrowId());

        service.close();
        service = null;
        try (Database db = Database.open(dir)) {
            assertEquals(0, periodOpenFlag(db, project), "what a restart reads before loading anything");
        }
        open(p);
        assertEquals(0, periodOpenFlag(service.database(), project));
        assertTrue(request(Outcome.COMPLETED).admitted(), "the next project opens");
        String next = service.settlement("r" + requests).orElseThrow().escrowId();
        assertFalse(project.equals(next));
        assertEquals(1, periodOpenFlag(service.database(), next));
        assertEquals(4_999_998, balance(PAYER), "25.00 less two projects of 10.000001");
        assertEquals(9_900_001, balance(WORKER));
        assertTrue(service.conservation().holds());
    }
}
