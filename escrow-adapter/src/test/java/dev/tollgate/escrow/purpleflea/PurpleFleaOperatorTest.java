package dev.tollgate.escrow.purpleflea;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.settle.RemoteOperations;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What an operator does about a payment whose create was sent and never answered: finds it in the pending list
 * (age, reason), finds its escrow by the operation id in the description, and resolves it; the escrow is read
 * from the service before anything is paid, and a resolution never pays twice.
 */
class PurpleFleaOperatorTest {
    static final String PAYER = "ag_payer";
    static final String WORKER = "ag_worker";
    PfHarness h;
    RemoteOperations ops;

    @BeforeEach
    void start() throws Exception {
        h = new PfHarness(PAYER);
        h.fake.register(WORKER);
        h.fake.fund(PAYER, Micros.parse("5"));
        ops = h.service.remoteOperations();
    }

    @AfterEach
    void stop() {
        h.close();
    }

    private RemoteOperations.Pending orphan() {
        h.fake.dropNextCreateAnswer = true;
        h.serve(PAYER, WORKER, 120);
        List<RemoteOperations.Pending> p = ops.pending();
        assertEquals(1, p.size());
        return p.get(0);
    }

    @Test
    void pendingListsTheUnknownPaymentWithItsAgeAndReason() {
        RemoteOperations.Pending p = orphan();
        h.clock.advance(90_000);
        RemoteOperations.Pending later = ops.pending().get(0);
        assertEquals("unknown", later.state());
        assertEquals("pay", later.kind());
        assertEquals(PAYER, later.payer());
        assertEquals(WORKER, later.worker());
        assertEquals(120_000, later.amountMicros());
        assertEquals(p.ageMillis() + 90_000, later.ageMillis());
        assertTrue(later.reason().startsWith("IOException"), later.reason());
    }

    @Test
    void resolvingWithTheEscrowReleasesItOnce() {
        RemoteOperations.Pending p = orphan();
        String escrowId = h.fake.escrowDescribed("tollgate op=" + p.opId()).get("escrow_id").asText();
        assertEquals("releasing escrow " + escrowId + " (0.120000 to ag_worker)", ops.resolveWithEscrow(p.opId(), escrowId));
        h.service.settleNow();
        assertEquals(120_000 - 1_200, h.fake.balance(WORKER));
        assertEquals(1, h.fake.creates.get());
        assertEquals(List.of(), ops.pending());
        assertEquals(0, ops.refreshNow().unknownOperations());
        assertThrows(IllegalArgumentException.class, () -> ops.resolveWithEscrow(p.opId(), escrowId),
                "a resolved operation cannot be resolved again");
        assertEquals(120_000 - 1_200, h.fake.balance(WORKER), "paid once");
    }

    @Test
    void anEscrowOfAnotherOperationIsRefusedAndNothingChanges() {
        RemoteOperations.Pending p = orphan();
        h.serve(PAYER, WORKER, 110);
        String other = h.fake.escrows.keySet().stream()
                .filter(id -> !h.fake.escrows.get(id).get("description").asText().endsWith(p.opId()))
                .findFirst().orElseThrow();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ops.resolveWithEscrow(p.opId(), other));
        assertTrue(e.getMessage().contains("belongs to another operation"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ops.resolveWithEscrow(p.opId(), "esc_doesnotexist0000"));
        assertEquals(1, ops.pending().size());
        assertEquals(110_000 - 1_100, h.fake.balance(WORKER), "only the later payment");
    }

    @Test
    void anOrphanRefundedByTheServicesTimeoutBecomesOwedAgain() {
        RemoteOperations.Pending p = orphan();
        String escrowId = h.fake.escrowDescribed("tollgate op=" + p.opId()).get("escrow_id").asText();
        h.clock.advance(3_600_000);
        assertEquals(1, h.fake.expireDue(), "the 1 h timeout passed");
        assertEquals(5_000_000 - 1_200, h.fake.balance(PAYER), "refunded to the payer minus the 1% fee");
        assertTrue(ops.resolveWithEscrow(p.opId(), escrowId).contains("was refunded to the payer"));
        h.service.settleNow();
        assertEquals(120_000 - 1_200, h.fake.balance(WORKER), "the worker is paid by a new escrow");
        assertEquals(List.of(), ops.pending());
    }

    @Test
    void notCreatedMakesTheAmountOwedAgain() {
        h.fake.dropNextCreateUnapplied = true;
        h.serve(PAYER, WORKER, 120);
        RemoteOperations.Pending p = ops.pending().get(0);
        assertEquals(null, h.fake.escrowDescribed("tollgate op=" + p.opId()), "the operator finds no escrow");
        assertEquals("0.120000 is owed to ag_worker again and goes into the next payment",
                ops.resolveNotCreated(p.opId()));
        h.service.settleNow();
        assertEquals(120_000 - 1_200, h.fake.balance(WORKER));
        assertEquals(5_000_000 - 120_000, h.fake.balance(PAYER));
        assertEquals(List.of(), ops.pending());
    }
}
