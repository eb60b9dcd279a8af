package dev.tollgate.escrow.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.escrow.TestClock;
import dev.tollgate.escrow.pricing.Fees;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.settle.AccountPolicy;
import dev.tollgate.escrow.settle.PolicyKind;
import dev.tollgate.escrow.settle.SettlementConfig;
import dev.tollgate.escrow.settle.SettlementService;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Agent escrows on the embedded ledger with a hand-moved clock: auto-release and auto-refund, across a restart. */
class AgentEscrowsTest {
    static final String PAYER = "ag_payer";
    static final String PAYEE = "ag_payee";
    final TestClock clock = new TestClock();
    Path dir;
    SettlementService service;

    SettlementService open() throws Exception {
        if (dir == null) {
            dir = Files.createTempDirectory("agent-escrows-");
        }
        AccountPolicy funded = new AccountPolicy(PolicyKind.NONE, null, Micros.parse("10.00"), true, 100, 0, 0, 0, 0,
                false, 0, 0, AccountPolicy.Quality.OFF);
        SettlementConfig cfg = new SettlementConfig(dir, "embedded", null, null, Fees.PURPLE_FLEA, 100_000,
                24 * 3_600_000L, true, false, Map.of(), Map.of(PAYER, funded));
        service = SettlementService.open(cfg, clock, null, up -> up);
        return service;
    }

    @AfterEach
    void close() {
        if (service != null) {
            service.close();
        }
    }

    @Test
    void anEscrowSettlesItselfAtItsAutoReleaseTimeEvenAfterARestart() throws Exception {
        AgentEscrows a = open().agentEscrows();
        AgentEscrow sub = a.submit(c -> a.create(c, PAYER, PAYEE, 4_000_000, "weekly", 168, "release")).get();
        AgentEscrow pool = a.submit(c -> a.create(c, PAYER, PAYEE, 2_000_000, "overage", 168, "refund")).get();
        a.submit(c -> a.releasePart(c, PAYER, pool.id(), 500_000)).get();
        clock.advance(168 * 3_600_000L - 1);
        assertEquals(0, a.sweepNow().get(), "not due a millisecond early");
        service.close();
        clock.advance(1);
        AgentEscrows b = open().agentEscrows();
        b.sweepNow().get();
        assertEquals(2, b.expiredCount(), "both, by this sweep or the timer's");
        AgentEscrow s = b.submit(c -> b.read(c, PAYEE, sub.id())).get();
        assertEquals("expired", s.status());
        assertEquals(4_000_000, s.releasedMicros(), "auto-release pays the payee");
        AgentEscrow p = b.submit(c -> b.read(c, PAYER, pool.id())).get();
        assertEquals(500_000, p.releasedMicros());
        assertEquals(1_500_000, p.refundedMicros(), "the unused overage returns to the payer");
        // 10 - 4 - 0.5 paid; the payee receives 4.5 less the 1% fee.
        assertEquals(5_500_000, service.statement(PAYER).balanceMicros());
        assertEquals(4_455_000, service.statement(PAYEE).balanceMicros());
        assertTrue(service.conservation().holds());
        assertEquals(0, b.sweepNow().get(), "settled once");
    }

    @Test
    void aLockCannotTakeWhatMemoryAlreadyPromised() throws Exception {
        AgentEscrows a = open().agentEscrows();
        assertTrue(service.ledger().funds().reserve(PAYER, 7_000_000), "a request's admission holds 7.00");
        Exception e = assertThrows(Exception.class,
                () -> a.submit(c -> a.create(c, PAYER, PAYEE, 3_000_001, "", 24, "release")).get());
        assertEquals("insufficient_balance", ((AgentEscrowException) e.getCause()).code());
        a.submit(c -> a.create(c, PAYER, PAYEE, 3_000_000, "", 24, "release")).get();
        assertEquals(0, service.ledger().funds().available(PAYER));
    }
}
