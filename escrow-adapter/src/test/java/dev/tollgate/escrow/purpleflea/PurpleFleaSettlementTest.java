package dev.tollgate.escrow.purpleflea;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.escrow.port.EscrowResult;
import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.settle.RemoteOperations;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Settlement through the Purple Flea backend against a loopback fake with the real service's semantics:
 * post-pay escrows of at least the minimum, each created and released whole; a lost release answer is resolved
 * by reading (no double payout); a lost create answer is never repeated and never blocks later payments; a create
 * that never left (connection refused) is retried as not sent; 402 maps to the client.
 */
class PurpleFleaSettlementTest {
    static final String PAYER = "ag_payer";
    static final String WORKER = "ag_worker";
    PfHarness h;
    FakePurpleFlea fake;

    @BeforeEach
    void start() throws Exception {
        h = new PfHarness(PAYER);
        fake = h.fake;
        fake.register(WORKER);
    }

    @AfterEach
    void stop() {
        h.close();
    }

    @Test
    void postPaysInBatchesOfAtLeastTheMinimum() throws Exception {
        fake.fund(PAYER, Micros.parse("5"));
        assertTrue(h.service.admit("r0", PAYER, WORKER, "m", 30, 0).get().admitted(), "post-pay locks nothing");
        h.serve(PAYER, WORKER, 30, 30, 30);
        assertEquals(0, fake.creates.get(), "0.09 owed is below the 0.10 minimum");
        h.serve(PAYER, WORKER, 30);
        assertEquals(1, fake.creates.get());
        assertEquals(120_000 - 1_200, fake.balance(WORKER), "one escrow of 0.12 released whole, minus the 1% fee");
        assertEquals(5_000_000 - 120_000, fake.balance(PAYER), "debited from the payer's own wallet");
        assertEquals("released", h.service.settlement("r4").orElseThrow().state());
        h.serve(PAYER, WORKER, 30);
        assertEquals("batched", h.service.settlement("r5").orElseThrow().state(), "0.03 waits for the next escrow");
    }

    @Test
    void lostReleaseAnswerIsResolvedByReadingNotByPayingTwice() throws Exception {
        fake.fund(PAYER, Micros.parse("5"));
        fake.failNextReleaseAnswer = true;
        h.serve(PAYER, WORKER, 30, 30, 30, 30);
        assertEquals(1, fake.releases.get());
        assertEquals(118_800, fake.balance(WORKER));
        assertEquals(0, h.service.unfinishedOperations());
        assertEquals("released", h.service.settlement("r1").orElseThrow().state());
    }

    @Test
    void lostCreateAnswerIsSetAsideAndLaterPaymentsOfThePairGoOn() throws Exception {
        fake.fund(PAYER, Micros.parse("5"));
        fake.dropNextCreateAnswer = true;
        h.serve(PAYER, WORKER, 120);
        assertEquals(1, fake.creates.get());
        List<RemoteOperations.Pending> pending = h.service.remoteOperations().pending();
        assertEquals(1, pending.size());
        RemoteOperations.Pending op = pending.get(0);
        assertEquals("unknown", op.state());
        assertEquals(120_000, op.amountMicros());
        ObjectNode orphan = fake.escrowDescribed("tollgate op=" + op.opId());
        assertNotNull(orphan, "the escrow's description names the operation");
        assertEquals(1, orphan.get("timeout_hours").asInt(), "created with a short timeout: an orphan returns early");

        h.serve(PAYER, WORKER, 30, 30, 50);
        assertEquals(2, fake.creates.get(), "the next 0.11 is paid; the unknown 0.12 is not created again");
        assertEquals(110_000 - 1_100, fake.balance(WORKER), "only the second escrow was released");
        RemoteOperations.Health health = h.service.remoteOperations().refreshNow();
        assertEquals(1, health.unknownOperations());
        assertEquals(120_000, health.unknownMicros(), "carried as unknown, neither owed again nor paid");
        h.clock.advance(3_600_000);
        h.service.settleNow();
        assertEquals(2, fake.creates.get(), "an unknown create is never repeated blindly");
    }

    @Test
    void connectionRefusedIsNotSentAndIsRetriedNotLeftUnknown() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        try (PfHarness dead = new PfHarness(List.of(PAYER), "http://127.0.0.1:" + port, null)) {
            dead.serve(PAYER, WORKER, 120);
            assertEquals(1, dead.service.unfinishedOperations());
            RemoteOperations.Pending op = dead.service.remoteOperations().pending().isEmpty() ? null
                    : dead.service.remoteOperations().pending().get(0);
            assertEquals(null, op, "refused connection: pending (not unknown, not stuck)");
            assertEquals(0, dead.service.remoteOperations().refreshNow().unknownOperations());
            dead.serve(PAYER, WORKER, 30);
            dead.clock.advance(RemoteOperations.STUCK_AFTER_MS + 1_000);
            dead.service.settleNow();
            assertEquals(1, dead.service.remoteOperations().refreshNow().stuckOperations(),
                    "ten minutes without reaching the service: stuck, reported");
            RemoteOperations.Pending stuck = dead.service.remoteOperations().pending().get(0);
            assertEquals("pending", stuck.state());
            assertEquals(150_000, stuck.amountMicros(), "grown to carry the 0.03");
            assertTrue(stuck.reason().contains("not sent: ConnectException"), stuck.reason());
            try (FakePurpleFlea back = new FakePurpleFlea(dead.clock, port)) {
                back.fund(PAYER, Micros.parse("5"));
                back.register(WORKER);
                dead.clock.advance(61_000);
                dead.service.settleNow();
                assertEquals(1, back.creates.get(), "retried once the service is back");
                assertEquals(150_000 - 1_500, back.balance(WORKER),
                        "what accrued meanwhile (0.12 + 0.03) went into the same escrow");
                assertEquals(0, dead.service.unfinishedOperations());
            }
        }
    }

    /**
     * The state a SIGKILL during a create leaves (operation {@code sent}, escrow {@code creating}, the service
     * having applied it): after the restart the operation is unknown and set aside, the escrow is not created
     * again, and the pair's later payments go on.
     */
    @Test
    void aCreateCutOffByAKillIsUnknownAfterTheRestartAndBlocksNothing() throws Exception {
        fake.fund(PAYER, Micros.parse("5"));
        fake.dropNextCreateAnswer = true;
        h.serve(PAYER, WORKER, 120);
        String opId = h.service.remoteOperations().pending().get(0).opId();
        h.service.close();
        try (dev.tollgate.escrow.db.Database db = dev.tollgate.escrow.db.Database.open(h.dir)) {
            db.transaction(c -> {
                try (var ps = c.prepareStatement("UPDATE settle_op SET state = 'sent', next_at_ms = 0, "
                        + "escrow_id = 'postpay:ag_payer:ag_worker' WHERE op_id = ?")) {
                    ps.setString(1, opId); // As it was mid-call, before the answer (that never came).
                    ps.executeUpdate();
                }
                return null;
            });
        }
        try (PfHarness restarted = new PfHarness(List.of(PAYER), null, fake, h.dir)) {
            restarted.idPrefix = "after-restart-";
            restarted.serve(PAYER, WORKER, 110);
            assertEquals(2, fake.creates.get(), "the cut-off create is not repeated; the next 0.11 is paid");
            assertEquals(110_000 - 1_100, fake.balance(WORKER));
            List<RemoteOperations.Pending> pending = restarted.service.remoteOperations().pending();
            assertEquals(1, pending.size());
            assertEquals(opId, pending.get(0).opId());
            assertEquals("unknown", pending.get(0).state());
        }
    }

    @Test
    void insufficientBalanceBecomesTheClients402AndIsRetriedOnATimerNotPerRequest() throws Exception {
        fake.fund(PAYER, Micros.parse("0.05"));
        h.serve(PAYER, WORKER, 30, 30, 30, 30);
        assertEquals(402, h.service.admit("next", PAYER, WORKER, "m", 30, 0).get().status());
        h.service.remoteOperations().refreshNow();
        assertTrue(metrics().contains("tollgate_payers_in_arrears 1\n"), "the payer counts as in arrears");
        int asked = fake.requests.get();
        h.serve(PAYER, WORKER, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30);
        assertEquals(asked, fake.requests.get(), "requests in flight while in arrears make no create");
        fake.fund(PAYER, Micros.parse("5"));
        h.clock.advance(61_000);
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!h.service.admit("later", PAYER, WORKER, "m", 30, 0).get().admitted()) {
            h.service.settleNow();
            assertTrue(System.nanoTime() < deadline, "arrears cleared after the timer's retry");
            Thread.onSpinWait();
        }
        assertEquals(420_000 - 4_200, fake.balance(WORKER), "all 0.42 owed, in one escrow");
        assertEquals(1, fake.creates.get());
        h.service.remoteOperations().refreshNow();
        assertTrue(metrics().contains("tollgate_payers_in_arrears 0\n"), "out of arrears once paid");
    }

    private String metrics() {
        StringBuilder sb = new StringBuilder();
        h.service.writePrometheus(sb);
        return sb.toString();
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
