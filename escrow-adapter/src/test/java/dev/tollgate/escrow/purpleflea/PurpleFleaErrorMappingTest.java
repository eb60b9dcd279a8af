package dev.tollgate.escrow.purpleflea;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.escrow.pricing.Micros;
import dev.tollgate.escrow.settle.Admission;
import dev.tollgate.escrow.settle.RemoteOperations;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Only {@code insufficient_balance} is the payer's problem (402); an unknown worker, an invalid counterparty, a
 * self-escrow or a refused key are configuration errors: the account's clients get 503 saying settlement is
 * misconfigured, the health report says why, and the payment is asked for again on a timer, not per request.
 */
class PurpleFleaErrorMappingTest {
    static final String PAYER = "ag_payer";
    PfHarness h;

    @BeforeEach
    void start() throws Exception {
        h = new PfHarness(PAYER);
        h.fake.fund(PAYER, Micros.parse("5"));
    }

    @AfterEach
    void stop() {
        h.close();
    }

    private Admission admit(String worker) throws Exception {
        return h.service.admit("probe", PAYER, worker, "m", 30, 0).get();
    }

    private void assertMisconfigured(String worker, String code) throws Exception {
        Admission a = admit(worker);
        assertEquals(503, a.status(), a.message());
        assertTrue(a.message().startsWith("Settlement is misconfigured for account " + PAYER + " paying worker "
                + worker + ": the escrow service answered " + code), a.message());
        List<RemoteOperations.Problem> problems = h.service.remoteOperations().refreshNow().misconfigured();
        assertEquals(1, problems.size());
        assertEquals(PAYER, problems.get(0).payer());
        assertEquals(worker, problems.get(0).worker());
        assertEquals(code, problems.get(0).code());
        assertEquals(5_000_000, h.fake.balance(PAYER), "nothing was debited");
    }

    @Test
    void anUnknownWorkerIsAConfigurationErrorNotA402() throws Exception {
        h.serve(PAYER, "ag_nobody", 120);
        assertMisconfigured("ag_nobody", "counterparty_not_found");
        assertEquals(200, admit("ag_other").status(), "other workers of the account are not affected");
    }

    @Test
    void aWorkerNameThatIsNoAgentIdIsAConfigurationError() throws Exception {
        h.serve(PAYER, "gpu-box-1", 120);
        assertMisconfigured("gpu-box-1", "invalid_counterparty");
    }

    @Test
    void payingOneselfIsAConfigurationError() throws Exception {
        h.serve(PAYER, PAYER, 120);
        assertMisconfigured(PAYER, "self_escrow");
    }

    @Test
    void aKeyTheServiceDoesNotKnowIsAConfigurationError() throws Exception {
        h.fake.register("ag_worker");
        // ag_stranger's key (a rotated or mistyped one) was never issued by the service: 401 unauthorized.
        try (PfHarness other = new PfHarness(List.of("ag_stranger"), h.fake.baseUrl(), null)) {
            other.serve("ag_stranger", "ag_worker", 120);
            Admission a = other.service.admit("x", "ag_stranger", "ag_worker", "m", 30, 0).get();
            assertEquals(503, a.status(), a.message());
            assertTrue(a.message().contains("answered unauthorized"), a.message());
        }
    }

    @Test
    void aMisconfiguredPairIsRetriedOnATimerAndRecoversWhenFixed() throws Exception {
        h.serve(PAYER, "ag_late", 120);
        assertEquals(503, admit("ag_late").status());
        int asked = h.fake.requests.get();
        h.serve(PAYER, "ag_late", 30, 30, 30, 30, 30, 30, 30, 30);
        assertEquals(asked, h.fake.requests.get(), "no create per request while misconfigured");
        h.fake.register("ag_late");
        h.clock.advance(61_000);
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (admit("ag_late").status() != 200) {
            h.service.settleNow();
            assertTrue(System.nanoTime() < deadline, "the timer's retry pays once the worker exists");
            Thread.onSpinWait();
        }
        assertEquals(360_000 - 3_600, h.fake.balance("ag_late"), "everything owed (0.36) in one escrow");
        assertEquals(List.of(), h.service.remoteOperations().refreshNow().misconfigured());
    }
}
